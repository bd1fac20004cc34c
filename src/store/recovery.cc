#include "store/recovery.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/errc.h"
#include "store/logger.h"
#include "store/record.h"
#include "store/segment_reader.h"

namespace sluice::store {
namespace {

using log_format::HeaderStatus;
using log_format::RecordType;
using Clock = std::chrono::steady_clock;

// A segment file found by the scan, with its header checked.
struct SegmentFile {
  SegmentId id = 0;
  std::string name;
  std::uint64_t size = 0;
  HeaderCheck check;
};

// A message seen during replay. Its queue ids live in Replayer::queue_ids_ at
// [first_queue, first_queue + queue_count); an acked queue's slot is set to 0.
struct Entry {
  MessageId id = 0;
  Position position;
  std::uint64_t first_queue = 0;
  std::uint16_t queue_count = 0;
  std::uint16_t live = 0;
};

class Replayer {
 public:
  Replayer(Directory& dir, const RecoveryOptions& options) : dir_(dir), options_(options) {}

  Result<RecoveryResult> run();

 private:
  Result<std::vector<SegmentFile>> scan();
  Result<void> refuse_newer_versions(const std::vector<SegmentFile>& files);
  Result<void> set_aside(const SegmentFile& f, bool newest);
  Result<void> replay(const SegmentFile& f);
  Result<void> truncate(File& file, const SegmentFile& f, std::uint64_t at, const char* reason);
  bool apply(SegmentId segment, const RecordView& r);
  void on_message(SegmentId segment, const RecordView& r, const MessageHeaderView& m);
  void on_ack(SegmentId segment, const AckRecord& a);
  void on_purge(SegmentId segment, QueueId queue);
  void release(SegmentId acking_segment, Entry& e, std::uint64_t slot);
  void compact_if_sparse();
  void report_progress(SegmentId segment);
  void collect(RecoveryResult& out);

  Directory& dir_;
  RecoveryOptions options_;
  RecoveryResult result_;
  std::vector<Entry> entries_;  // in log order
  std::vector<QueueId> queue_ids_;
  std::unordered_map<MessageId, std::size_t> index_;  // live entries only
  std::size_t dead_entries_ = 0;
  std::uint64_t total_bytes_ = 0;
  std::uint64_t next_progress_ = 0;
};

Result<RecoveryResult> Replayer::run() {
  auto start = Clock::now();
  auto files = scan();
  if (!files) return files.error();
  if (auto r = refuse_newer_versions(*files); !r) return r.error();

  next_progress_ = options_.progress_bytes;
  for (std::size_t i = 0; i < files->size(); ++i) {
    const SegmentFile& f = (*files)[i];
    auto r = f.check.status == HeaderStatus::Ok ? replay(f) : set_aside(f, i + 1 == files->size());
    if (!r) return r.error();
  }

  RecoveryResult out = std::move(result_);
  collect(out);
  out.recovered.stats.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return out;
}

// Lists segment files in id order and reads each header. Changes nothing.
Result<std::vector<SegmentFile>> Replayer::scan() {
  auto names = dir_.list();
  if (!names) return names.error();
  std::vector<SegmentFile> files;
  for (const std::string& name : *names) {
    SegmentId id = 0;
    if (log_format::parse_corrupt_file_name(name, id)) {
      result_.next_segment = std::max(result_.next_segment, id + 1);
    }
    if (!log_format::parse_segment_file_name(name, id)) continue;
    result_.next_segment = std::max(result_.next_segment, id + 1);

    auto file = dir_.open(name, OpenMode::Read);
    if (!file) return file.error();
    auto size = (*file)->size();
    if (!size) return size.error();
    SegmentReader reader(**file, *size);
    auto check = reader.read_header();
    if (!check) return check.error();
    if (check->status == HeaderStatus::Ok && check->header.segment != id) {
      check->status = HeaderStatus::BadChecksum;  // a header copied from another segment
    }
    files.push_back({id, name, *size, *check});
    total_bytes_ += *size;
  }
  std::sort(files.begin(), files.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.id < b.id; });
  return files;
}

Result<void> Replayer::refuse_newer_versions(const std::vector<SegmentFile>& files) {
  for (const SegmentFile& f : files) {
    if (f.check.status != HeaderStatus::NewerVersion) continue;
    std::string detail = fmt::format(
        "data directory {} was written by a newer sluice: segment {} has format version {}, "
        "this build supports versions up to {}; nothing was changed",
        dir_.path(), f.name, f.check.header.version, log_format::kFormatVersion);
    logger()->error("refusing data directory dir={} segment={} version={} supported={}",
                    dir_.path(), f.id, f.check.header.version, log_format::kFormatVersion);
    return Error{make_error_code(errc::unsupported_version), std::move(detail)};
  }
  return ok();
}

// A segment whose header is bad. The newest segment shorter than a header is a creation that
// a crash interrupted (SegmentWriter::create syncs the header before any record): it holds
// nothing and is removed. Anything else is kept for an operator under *.corrupt.
Result<void> Replayer::set_aside(const SegmentFile& f, bool newest) {
  if (newest && f.check.status == HeaderStatus::Short) {
    logger()->warn("removing torn segment creation segment={} size={}", f.id, f.size);
    if (auto r = dir_.remove(f.name); !r) return r;
    return dir_.sync();
  }
  std::string aside = f.name + std::string(log_format::kCorruptSuffix);
  logger()->error("bad segment header segment={} reason={} size={} moved_to={}/{}", f.id,
                  log_format::to_string(f.check.status), f.size, dir_.path(), aside);
  if (auto r = dir_.rename(f.name, aside); !r) return r;
  ++result_.recovered.stats.segments_moved_aside;
  result_.recovered.stats.bytes_dropped += f.size;
  return dir_.sync();
}

// NOTE: the one long loop of recovery; each record is handed to apply().
Result<void> Replayer::replay(const SegmentFile& f) {
  auto file = dir_.open(f.name, OpenMode::ReadWrite);
  if (!file) return file.error();
  SegmentReader reader(**file, f.size);
  if (auto h = reader.read_header(); !h) return h.error();

  result_.segments[f.id];  // kept even if empty, so an empty segment can be deleted
  ++result_.recovered.stats.segments;
  result_.recovered.stats.bytes_read += log_format::kHeaderSize;

  RecordView r;
  while (reader.next(r)) {
    if (!apply(f.id, r)) return truncate(**file, f, r.offset, "bad_payload");
    ++result_.recovered.stats.records;
    result_.recovered.stats.bytes_read += r.size;
    report_progress(f.id);
  }
  switch (reader.stop_reason()) {
    case StopReason::CleanEnd:
      return ok();
    case StopReason::IoError:
      return reader.io_error();
    default:
      return truncate(**file, f, reader.stop_offset(), to_string(reader.stop_reason()));
  }
}

Result<void> Replayer::truncate(File& file, const SegmentFile& f, std::uint64_t at,
                                const char* reason) {
  std::uint64_t dropped = f.size - at;
  logger()->error("truncating segment={} offset={} dropped_bytes={} reason={} dir={}", f.id, at,
                  dropped, reason, dir_.path());
  if (auto r = file.truncate(at); !r) return r;
  if (auto r = file.sync(); !r) return r;
  ++result_.recovered.stats.segments_truncated;
  result_.recovered.stats.bytes_dropped += dropped;
  return ok();
}

// Applies one checksummed record. Returns false if its payload does not parse.
bool Replayer::apply(SegmentId segment, const RecordView& r) {
  switch (r.type) {
    case RecordType::Message: {
      MessageHeaderView m;
      if (!decode_message_header(r.payload, m)) return false;
      on_message(segment, r, m);
      return true;
    }
    case RecordType::Ack: {
      AckRecord a;
      if (!decode_ack(r.payload, a)) return false;
      on_ack(segment, a);
      return true;
    }
    case RecordType::Purge: {
      QueueId q = 0;
      if (!decode_purge(r.payload, q)) return false;
      on_purge(segment, q);
      return true;
    }
  }
  return false;
}

void Replayer::on_message(SegmentId segment, const RecordView& r, const MessageHeaderView& m) {
  Entry e{.id = m.id,
          .position = {segment, static_cast<std::uint32_t>(r.offset), r.size},
          .first_queue = queue_ids_.size(),
          .queue_count = static_cast<std::uint16_t>(m.queues.size()),
          .live = static_cast<std::uint16_t>(m.queues.size())};
  queue_ids_.insert(queue_ids_.end(), m.queues.begin(), m.queues.end());
  result_.recovered.max_message_id = std::max(result_.recovered.max_message_id, m.id);

  // NOTE: ids are unique by contract; should one repeat, the later record wins the index and
  // the earlier stays live for its queues until they are purged.
  index_[m.id] = entries_.size();
  entries_.push_back(e);
}

void Replayer::on_ack(SegmentId segment, const AckRecord& a) {
  result_.recovered.max_message_id = std::max(result_.recovered.max_message_id, a.message);
  // An ack for a message not found was for a message in a deleted or truncated segment.
  auto it = index_.find(a.message);
  if (it == index_.end()) return;
  Entry& e = entries_[it->second];
  for (std::uint64_t s = e.first_queue; s < e.first_queue + e.queue_count; ++s) {
    if (queue_ids_[s] == a.queue) {
      release(segment, e, s);
      break;
    }
  }
  compact_if_sparse();
}

void Replayer::on_purge(SegmentId segment, QueueId queue) {
  for (Entry& e : entries_) {
    for (std::uint64_t s = e.first_queue; e.live > 0 && s < e.first_queue + e.queue_count; ++s) {
      if (queue_ids_[s] == queue) release(segment, e, s);
    }
  }
  compact_if_sparse();
}

// Drops queue slot `slot` of `e`, acked by a record in `acking_segment`.
void Replayer::release(SegmentId acking_segment, Entry& e, std::uint64_t slot) {
  queue_ids_[slot] = 0;
  --e.live;
  if (e.position.segment != acking_segment) {
    result_.segments[acking_segment].ack_targets.insert(e.position.segment);
  }
  if (e.live > 0) return;
  ++dead_entries_;
  auto it = index_.find(e.id);
  if (it != index_.end() && it->second == static_cast<std::size_t>(&e - entries_.data())) {
    index_.erase(it);
  }
}

// Keeps replay memory near the live backlog: drops dead entries once they are most of them.
void Replayer::compact_if_sparse() {
  constexpr std::size_t kMinDead = 4096;  // not worth a pass below this
  if (dead_entries_ < kMinDead || dead_entries_ <= entries_.size() / 2) return;
  std::vector<Entry> kept;
  std::vector<QueueId> ids;
  kept.reserve(entries_.size() - dead_entries_);
  index_.clear();
  for (Entry e : entries_) {
    if (e.live == 0) continue;
    std::uint64_t first = ids.size();
    ids.insert(ids.end(), queue_ids_.begin() + static_cast<std::ptrdiff_t>(e.first_queue),
               queue_ids_.begin() + static_cast<std::ptrdiff_t>(e.first_queue + e.queue_count));
    e.first_queue = first;
    index_[e.id] = kept.size();
    kept.push_back(e);
  }
  entries_.swap(kept);
  queue_ids_.swap(ids);
  dead_entries_ = 0;
}

void Replayer::report_progress(SegmentId segment) {
  const RecoveryStats& s = result_.recovered.stats;
  if (options_.progress_bytes == 0 || s.bytes_read < next_progress_) return;
  next_progress_ = s.bytes_read + options_.progress_bytes;
  logger()->info("recovery progress dir={} segment={} bytes_read={} bytes_total={} records={}",
                 dir_.path(), segment, s.bytes_read, total_bytes_, s.records);
}

// Fills in per-queue lists and per-segment live counts from the entries left live.
void Replayer::collect(RecoveryResult& out) {
  for (const Entry& e : entries_) {
    if (e.live == 0) continue;
    ++out.recovered.stats.live_messages;
    out.segments[e.position.segment].live += e.live;
    for (std::uint64_t s = e.first_queue; s < e.first_queue + e.queue_count; ++s) {
      if (queue_ids_[s] == 0) continue;
      out.recovered.queues[queue_ids_[s]].push_back({e.id, e.position});
    }
  }
}

}  // namespace

Result<RecoveryResult> recover(Directory& dir, const RecoveryOptions& options) {
  return Replayer(dir, options).run();
}

}  // namespace sluice::store
