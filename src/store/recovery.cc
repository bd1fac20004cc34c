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

// A durable queue's messages in one segment, as replay finds them. Message ids only grow
// along the log, so a slice keeps them sorted, as 4-byte deltas from base_id, and an ack is
// found by binary search. An acked message's offset becomes kAcked. 8 bytes per message.
struct Slice {
  static constexpr std::uint32_t kAcked = UINT32_MAX;

  SegmentId segment = 0;
  MessageId base_id = 0;
  std::vector<std::uint32_t> id_deltas;
  std::vector<std::uint32_t> offsets;
  std::uint64_t live = 0;

  MessageId last_id() const { return base_id + id_deltas.back(); }
  // The index of message `id`, or -1.
  std::ptrdiff_t find(MessageId id) const;
};

// Where a live (not acked) message of a queue is: its slice and index there.
struct LiveMessage {
  Slice* slice = nullptr;
  std::size_t index = 0;
};

struct QueueReplay {
  std::vector<Slice> slices;  // in log order
  // Set if an id did not grow (only a hand-made log can do that): acks then search all.
  bool unordered = false;

  // Message `id` if the queue holds it and it is not acked; slice null otherwise.
  LiveMessage find_live(MessageId id);
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
  void add(QueueReplay& q, SegmentId segment, MessageId id, std::uint32_t offset);
  void on_ack(SegmentId segment, const AckRecord& a);
  void on_purge(SegmentId segment, const PurgeRecord& purge);
  void release(SegmentId acking_segment, Slice& slice, std::size_t index);
  void report_progress(SegmentId segment);
  void collect(RecoveryResult& out);
  Result<void> consume_clean_stop();

  Directory& dir_;
  RecoveryOptions options_;
  RecoveryResult result_;
  std::unordered_map<QueueId, QueueReplay> queues_;
  // Delivered records since the last CleanStop, and those the last CleanStop confirmed.
  std::unordered_map<QueueId, MessageId> delivered_pending_;
  std::unordered_map<QueueId, MessageId> delivered_at_stop_;
  bool ends_with_clean_stop_ = false;
  Position clean_stop_at_;  // of the last CleanStop record
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
  if (auto r = consume_clean_stop(); !r) return r.error();
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
  ends_with_clean_stop_ = false;
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
      PurgeRecord p;
      if (!decode_purge(r.payload, p)) return false;
      on_purge(segment, p);
      return true;
    }
    case RecordType::Paged:
      return true;  // a copy that only took a message out of memory: gone with the restart
    case RecordType::Delivered: {
      DeliveredRecord d;
      if (!decode_delivered(r.payload, d)) return false;
      delivered_pending_[d.queue] = d.upto;
      return true;
    }
    case RecordType::CleanStop:
      if (!r.payload.empty()) return false;
      clean_stop_at_ = Position{segment, static_cast<std::uint32_t>(r.offset), r.size};
      delivered_at_stop_ = std::move(delivered_pending_);
      delivered_pending_.clear();
      ends_with_clean_stop_ = true;
      return true;
  }
  return false;
}

void Replayer::on_message(SegmentId segment, const RecordView& r, const MessageHeaderView& m) {
  result_.recovered.max_message_id = std::max(result_.recovered.max_message_id, m.id);
  result_.segments[segment].live += m.queues.size();
  for (QueueId q : m.queues) add(queues_[q], segment, m.id, static_cast<std::uint32_t>(r.offset));
}

void Replayer::add(QueueReplay& q, SegmentId segment, MessageId id, std::uint32_t offset) {
  bool grows =
      q.slices.empty() || q.slices.back().id_deltas.empty() || id > q.slices.back().last_id();
  if (!grows && !q.unordered) {
    logger()->warn(
        "message ids do not grow along the log segment={} offset={} message={}; "
        "acks are matched by a slower search",
        segment, offset, id);
    q.unordered = true;
  }
  if (q.slices.empty() || q.slices.back().segment != segment || !grows ||
      id - q.slices.back().base_id > UINT32_MAX) {
    q.slices.push_back(Slice{.segment = segment, .base_id = id});
  }
  Slice& s = q.slices.back();
  s.id_deltas.push_back(static_cast<std::uint32_t>(id - s.base_id));
  s.offsets.push_back(offset);
  ++s.live;
}

LiveMessage QueueReplay::find_live(MessageId id) {
  auto live_in = [id](Slice& s) {
    std::ptrdiff_t i = s.find(id);
    if (i < 0 || s.offsets[static_cast<std::size_t>(i)] == Slice::kAcked) return LiveMessage{};
    return LiveMessage{&s, static_cast<std::size_t>(i)};
  };
  if (!unordered) {
    auto after = std::upper_bound(slices.begin(), slices.end(), id,
                                  [](MessageId m, const Slice& s) { return m < s.base_id; });
    return after == slices.begin() ? LiveMessage{} : live_in(*std::prev(after));
  }
  for (Slice& s : slices) {
    if (LiveMessage found = live_in(s); found.slice != nullptr) return found;
  }
  return LiveMessage{};
}

std::ptrdiff_t Slice::find(MessageId id) const {
  if (id < base_id || id - base_id > UINT32_MAX) return -1;
  const auto delta = static_cast<std::uint32_t>(id - base_id);
  auto it = std::lower_bound(id_deltas.begin(), id_deltas.end(), delta);
  if (it == id_deltas.end() || *it != delta) return -1;
  return it - id_deltas.begin();
}

void Replayer::on_ack(SegmentId segment, const AckRecord& a) {
  result_.recovered.max_message_id = std::max(result_.recovered.max_message_id, a.message);
  // An ack that matches nothing was for a message in a deleted or truncated segment.
  auto q = queues_.find(a.queue);
  if (q == queues_.end()) return;
  if (LiveMessage m = q->second.find_live(a.message); m.slice != nullptr) {
    release(segment, *m.slice, m.index);
  }
}

void Replayer::on_purge(SegmentId segment, const PurgeRecord& purge) {
  auto q = queues_.find(purge.queue);
  if (q == queues_.end()) return;
  // Messages out for delivery at the purge stay until acked: those the queue still holds
  // here. One it does not (acked since, or in a segment dropped or cut short) is not revived.
  std::vector<HeldMessage> kept;
  for (const HeldMessage& h : purge.held) {
    if (LiveMessage m = q->second.find_live(h.id); m.slice != nullptr) {
      kept.push_back({h.id, m.slice->segment, m.slice->offsets[m.index]});
    }
  }
  for (Slice& s : q->second.slices) {
    if (s.live == 0) continue;
    result_.segments[s.segment].live -= s.live;
    if (s.segment != segment) result_.segments[segment].ack_targets.insert(s.segment);
  }
  q->second.slices.clear();
  for (const HeldMessage& h : kept) {
    ++result_.segments[h.segment].live;
    add(q->second, h.segment, h.id, h.offset);
  }
}

// Message `index` of `slice` is acked, by a record in `acking_segment`.
void Replayer::release(SegmentId acking_segment, Slice& slice, std::size_t index) {
  slice.offsets[index] = Slice::kAcked;
  --result_.segments[slice.segment].live;
  if (slice.segment != acking_segment) {
    result_.segments[acking_segment].ack_targets.insert(slice.segment);
  }
  if (--slice.live == 0) {
    // Keep replay memory near the live backlog: a drained slice holds nothing.
    std::vector<std::uint32_t>().swap(slice.id_deltas);
    std::vector<std::uint32_t>().swap(slice.offsets);
  }
}

// A clean stop's marker speaks for that stop only: once trusted it is cut off (and the cut
// synced) before anything is served, so that a later crash is not taken for a clean stop.
Result<void> Replayer::consume_clean_stop() {
  if (!ends_with_clean_stop_) return ok();
  auto file = dir_.open(log_format::segment_file_name(clean_stop_at_.segment), OpenMode::ReadWrite);
  if (!file) return file.error();
  if (auto r = (*file)->truncate(clean_stop_at_.offset); !r) return r;
  if (auto r = (*file)->sync(); !r) return r;
  logger()->info(
      "previous stop was clean: redelivered flags of recovered messages are exact "
      "dir={} segment={}",
      dir_.path(), clean_stop_at_.segment);
  return ok();
}

void Replayer::report_progress(SegmentId segment) {
  const RecoveryStats& s = result_.recovered.stats;
  if (options_.progress_bytes == 0 || s.bytes_read < next_progress_) return;
  next_progress_ = s.bytes_read + options_.progress_bytes;
  logger()->info("recovery progress dir={} segment={} bytes_read={} bytes_total={} records={}",
                 dir_.path(), segment, s.bytes_read, total_bytes_, s.records);
}

// Hands each queue the offsets of its live messages; replay state goes as it is handed over.
// Only a log that ends with a clean stop says which messages were never delivered: messages
// reach consumers in id order, so those are the ones after the queue's delivered_upto.
void Replayer::collect(RecoveryResult& out) {
  out.recovered.stats.clean_stop = ends_with_clean_stop_;
  for (auto& [id, replay] : queues_) {
    RecoveredQueue q;
    const bool exact = ends_with_clean_stop_ && !replay.unordered;
    if (exact) {
      auto d = delivered_at_stop_.find(id);
      q.delivered_upto = d == delivered_at_stop_.end() ? 0 : d->second;
    }
    for (Slice& s : replay.slices) {
      if (s.live == 0) continue;
      std::size_t kept = 0;
      for (std::size_t i = 0; i < s.offsets.size(); ++i) {
        if (s.offsets[i] == Slice::kAcked) continue;
        if (exact && s.base_id + s.id_deltas[i] <= q.delivered_upto) ++q.delivered_before;
        s.offsets[kept++] = s.offsets[i];
      }
      s.offsets.resize(kept);
      s.offsets.shrink_to_fit();
      std::vector<std::uint32_t>().swap(s.id_deltas);
      q.messages += s.offsets.size();
      q.runs.push_back(OffsetRun{s.segment, std::move(s.offsets)});
    }
    replay.slices.clear();
    if (!exact) q.delivered_before = q.messages;
    if (q.messages == 0) continue;
    out.recovered.stats.live_messages += q.messages;
    out.recovered.queues.emplace(id, std::move(q));
  }
  queues_.clear();
}

}  // namespace

Result<RecoveryResult> recover(Directory& dir, const RecoveryOptions& options) {
  return Replayer(dir, options).run();
}

}  // namespace sluice::store
