#include "store/message_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "common/assert.h"
#include "store/errc.h"
#include "store/logger.h"

namespace sluice::store {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSlowSync = std::chrono::seconds(1);

MessageLogOptions clamped(MessageLogOptions o) {
  o.segment_size = std::clamp<std::uint64_t>(o.segment_size, 4096, 2ull << 30);
  return o;
}

Error store_error(errc code, std::string detail) {
  return Error{make_error_code(code), std::move(detail)};
}

}  // namespace

MessageLog::MessageLog(MessageLogOptions options) : options_(clamped(std::move(options))) {}

MessageLog::~MessageLog() { (void)close(); }

// --- open and close ---

Result<Recovered> MessageLog::open(const std::string& data_dir) {
  auto dir = open_posix_directory(data_dir + "/messages");
  if (!dir) return dir.error();
  return open(std::move(*dir));
}

Result<Recovered> MessageLog::open(std::unique_ptr<Directory> dir) {
  {
    MutexLock lock(mu_);
    BROKER_ASSERT(!open_);
  }
  dir_ = std::move(dir);
  auto result = recover(*dir_, RecoveryOptions{.progress_bytes = options_.recovery_progress_bytes});
  if (!result) return result.error();

  // Continue in a fresh segment, after every id seen.
  std::vector<SegmentId> doomed;
  {
    MutexLock lock(mu_);
    segments_ = std::move(result->segments);
    tail_segment_ = result->next_segment;
    tail_offset_ = log_format::kHeaderSize;
    segments_[tail_segment_];
    written_segment_ = tail_segment_;
    written_size_ = 0;
    last_lsn_ = 0;
    durable_lsn_.store(0);
    stats_ = LogStats{};
    unsynced_bytes_.store(0);
    failed_.reset();
    stopping_ = false;
    collect_garbage();
    doomed.swap(deletions_);
    open_ = true;
  }
  delete_segments(doomed);

  Recovered& rec = result->recovered;
  rec.stats.segments_deleted = doomed.size();
  const RecoveryStats& s = rec.stats;
  logger()->info(
      "recovered dir={} segments={} records={} live_messages={} queues={} bytes_read={} "
      "bytes_dropped={} truncated={} moved_aside={} deleted={} clean_stop={} elapsed_ms={}",
      dir_->path(), s.segments, s.records, s.live_messages, rec.queues.size(), s.bytes_read,
      s.bytes_dropped, s.segments_truncated, s.segments_moved_aside, s.segments_deleted,
      s.clean_stop, s.elapsed.count());
  sync_thread_ = std::thread([this] { sync_loop(); });
  return std::move(rec);
}

Result<void> MessageLog::close() {
  {
    MutexLock lock(mu_);
    if (!open_) return ok();
    stopping_ = true;
  }
  cv_.notify_all();
  sync_thread_.join();

  Result<void> closed = writer_ ? writer_->close() : ok();
  writer_.reset();
  {
    MutexLock lock(read_mu_);
    readers_.clear();
  }
  MutexLock lock(mu_);
  open_ = false;
  if (failed_) return *failed_;
  return closed;
}

// --- appends, on the owner's thread ---

Result<void> MessageLog::check_open() const {
  if (!open_ || stopping_) return store_error(errc::closed, "message log is not open");
  if (failed_) return store_error(errc::failed, failed_->detail);
  return ok();
}

// Encodes one record of `size` framed bytes at the tail; `encode` appends it to a buffer.
template <class Encode>
Appended MessageLog::put_record(std::size_t size, bool message, Encode&& encode) {
  Appended a;
  a.position = reserve(size);
  Chunk& c = tail_chunk(a.position);
  encode(c.data);
  a.lsn = finish_append(c, message, size);
  return a;
}

Result<Appended> MessageLog::append_message(const MessageRecord& m) {
  return append_message_record(m, false);
}

Result<Appended> MessageLog::append_paged(const MessageRecord& m) {
  return append_message_record(m, true);
}

Result<Appended> MessageLog::append_message_record(const MessageRecord& m, bool paged) {
  Appended a;
  {
    MutexLock lock(mu_);
    if (auto r = check_open(); !r) return r.error();
    if (auto r = paged ? validate_paged(m) : validate(m); !r) return r.error();
    a = put_record(framed_size(m), true,
                   [&](Bytes& out) { paged ? encode_paged(m, out) : encode_message(m, out); });
    // A Paged record has one reference: the queue that wrote it.
    segments_[a.position.segment].live += paged ? 1 : m.queues.size();
  }
  cv_.notify_one();
  return a;
}

Result<Lsn> MessageLog::append_ack(MessageId message, QueueId queue, const Position& where) {
  Lsn lsn = 0;
  {
    MutexLock lock(mu_);
    if (auto r = check_open(); !r) return r.error();
    Appended at = put_record(kAckFramedSize, false, [&](Bytes& out) {
      encode_ack(AckRecord{message, queue}, out);
    });
    release(where.segment, 1, at.position.segment);
    lsn = at.lsn;
  }
  cv_.notify_one();
  return lsn;
}

Result<Lsn> MessageLog::append_purge(QueueId queue, std::span<const SegmentRefs> dropped,
                                     std::span<const HeldMessage> still_held) {
  Lsn lsn = 0;
  {
    MutexLock lock(mu_);
    if (auto r = check_open(); !r) return r.error();
    Appended at = put_record(purge_framed_size(still_held.size()), false,
                             [&](Bytes& out) { encode_purge(queue, still_held, out); });
    for (const SegmentRefs& h : dropped) release(h.segment, h.count, at.position.segment);
    lsn = at.lsn;
  }
  cv_.notify_one();
  return lsn;
}

Result<void> MessageLog::append_clean_stop(std::span<const DeliveredRecord> delivered) {
  {
    MutexLock lock(mu_);
    if (auto r = check_open(); !r) return r.error();
    for (const DeliveredRecord& d : delivered) {
      put_record(kDeliveredFramedSize, false, [&](Bytes& out) { encode_delivered(d, out); });
    }
    put_record(kCleanStopFramedSize, false, [](Bytes& out) { encode_clean_stop(out); });
  }
  cv_.notify_one();
  return ok();
}

void MessageLog::release_paged(const Position& where) {
  const SegmentRefs one{where.segment, 1};
  release_paged(std::span(&one, 1));
}

void MessageLog::release_paged(std::span<const SegmentRefs> held) {
  bool deleting = false;
  {
    MutexLock lock(mu_);
    // Nothing on disk refers to a Paged record, so releasing it pins no other segment.
    for (const SegmentRefs& h : held) release(h.segment, h.count, h.segment);
    deleting = !deletions_.empty();
  }
  if (deleting) cv_.notify_one();
}

// Places a record of `size` bytes at the tail, rolling to a new segment if it would not fit.
Position MessageLog::reserve(std::size_t size) {
  bool empty_segment = tail_offset_ == log_format::kHeaderSize;
  if (!empty_segment && tail_offset_ + size > options_.segment_size) {
    ++tail_segment_;
    tail_offset_ = log_format::kHeaderSize;
    segments_[tail_segment_];
    collect_garbage();  // the old tail may be all acked already
  }
  Position p{tail_segment_, static_cast<std::uint32_t>(tail_offset_),
             static_cast<std::uint32_t>(size)};
  tail_offset_ += size;
  return p;
}

// The pending chunk for the tail segment, started if needed. `first` is the record just
// reserved, which becomes the chunk's first when one is started.
MessageLog::Chunk& MessageLog::tail_chunk(const Position& first) {
  if (pending_.empty() || pending_.back().segment != first.segment) {
    pending_.push_back(Chunk{.segment = first.segment, .start = first.offset});
    if (!spare_buffers_.empty()) {
      pending_.back().data = std::move(spare_buffers_.back());
      spare_buffers_.pop_back();
    }
  }
  return pending_.back();
}

Lsn MessageLog::finish_append(Chunk& c, bool message, std::size_t bytes) {
  unsynced_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  c.last_lsn = ++last_lsn_;
  ++c.records;
  ++stats_.records_appended;
  if (message) {
    ++c.messages;
    ++stats_.messages_appended;
  }
  return c.last_lsn;
}

// `count` queue references to records of `segment` are gone, by a record in `acking`.
void MessageLog::release(SegmentId segment, std::uint64_t count, SegmentId acking) {
  if (count == 0) return;
  auto it = segments_.find(segment);
  // A miss or an underflow means the owner acked twice or made up a position; going on would
  // delete a segment that still holds messages.
  BROKER_ASSERT(it != segments_.end() && it->second.live >= count);
  it->second.live -= count;
  if (segment != acking) segments_[acking].ack_targets.insert(segment);
  if (it->second.live == 0) collect_garbage();
}

// Queues for deletion every segment that is not the tail, holds no live message, and whose
// ack targets are all gone. Ack targets are older segments, so one pass in id order settles
// chains.
void MessageLog::collect_garbage() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    auto& [id, s] = *it;
    std::erase_if(s.ack_targets,
                  [this](SegmentId t) REQUIRES(mu_) { return !segments_.contains(t); });
    if (id != tail_segment_ && s.live == 0 && s.ack_targets.empty()) {
      deletions_.push_back(id);
      it = segments_.erase(it);
    } else {
      ++it;
    }
  }
}

// --- the sync thread ---

void MessageLog::sync_loop() {
  for (;;) {
    std::vector<Chunk> batch;
    std::vector<SegmentId> doomed;
    {
      MutexLock lock(mu_);
      lock.wait(cv_, [this]() REQUIRES(mu_) {
        return stopping_ || !pending_.empty() || !deletions_.empty();
      });
      if (stopping_ && pending_.empty() && deletions_.empty()) return;
      batch.swap(pending_);
      doomed.swap(deletions_);
    }
    if (!batch.empty()) {
      if (auto r = write_batch(batch); r) {
        report_durable(batch);
      } else {
        report_failure(r.error());
      }
      recycle(batch);
    }
    delete_segments(doomed);
  }
}

// Hands written buffers back for the next appends: a busy log then fills buffers that are
// already large instead of growing new ones (an mmap and copies per batch).
void MessageLog::recycle(std::vector<Chunk>& batch) {
  constexpr std::size_t kKeep = 2;              // buffers kept
  constexpr std::size_t kLargest = 8ull << 20;  // larger ones are returned to the allocator
  MutexLock lock(mu_);
  for (Chunk& c : batch) {
    if (spare_buffers_.size() >= kKeep || c.data.capacity() > kLargest) break;
    c.data.clear();
    spare_buffers_.push_back(std::move(c.data));
  }
}

Result<void> MessageLog::write_batch(std::vector<Chunk>& batch) {
  for (const Chunk& c : batch) {
    if (!writer_ || writer_->id() != c.segment) {
      if (auto r = switch_segment(c.segment); !r) return r;
    }
    // Positions handed out by reserve() are only right if the file is where it expected.
    BROKER_ASSERT(writer_->size() == c.start);
    if (auto r = writer_->append(c.data); !r) return r;
    MutexLock lock(mu_);
    written_segment_ = c.segment;
    written_size_ = writer_->size();
  }

  auto start = Clock::now();
  if (auto r = writer_->sync(); !r) return r;
  auto took = Clock::now() - start;
  if (took > kSlowSync) {
    logger()->warn("slow fdatasync segment={} ms={}", writer_->id(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  }
  return ok();
}

// Makes the current segment durable and closes it, then creates `segment`.
Result<void> MessageLog::switch_segment(SegmentId segment) {
  if (writer_) {
    BROKER_ASSERT(segment > writer_->id());
    if (auto r = writer_->sync(); !r) return r;
    if (auto r = writer_->close(); !r) return r;
    writer_.reset();
  }
  auto w = SegmentWriter::create(*dir_, segment);
  if (!w) return w.error();
  writer_ = std::move(*w);
  logger()->debug("created segment={} dir={}", segment, dir_->path());
  return ok();
}

void MessageLog::report_durable(const std::vector<Chunk>& batch) {
  Lsn lsn = batch.back().last_lsn;
  {
    MutexLock lock(mu_);
    for (const Chunk& c : batch) {
      stats_.records_synced += c.records;
      stats_.messages_synced += c.messages;
      stats_.bytes_written += c.data.size();
      unsynced_bytes_.fetch_sub(c.data.size(), std::memory_order_relaxed);
    }
    ++stats_.syncs;
    durable_lsn_.store(lsn, std::memory_order_release);
  }
  if (options_.on_durable) options_.on_durable(lsn);
}

void MessageLog::report_failure(const Error& e) {
  {
    MutexLock lock(mu_);
    failed_ = e;
    pending_.clear();
    unsynced_bytes_.store(0, std::memory_order_relaxed);  // nothing more will be synced
  }
  logger()->error("message log failed dir={} durable_lsn={} error=\"{}\"", dir_->path(),
                  durable_lsn(), e.detail);
  if (options_.on_failure) options_.on_failure(e);
}

void MessageLog::delete_segments(const std::vector<SegmentId>& ids) {
  if (ids.empty()) return;
  for (SegmentId id : ids) {
    if (writer_ && writer_->id() == id) writer_.reset();  // only after a failed write
    if (auto r = dir_->remove(log_format::segment_file_name(id)); !r) {
      // Costs disk space, not correctness: the next open sees no live message in it again.
      logger()->warn("could not delete segment={} error=\"{}\"", id, r.error().detail);
      continue;
    }
    logger()->debug("deleted segment={} dir={}", id, dir_->path());
    {
      MutexLock lock(read_mu_);
      readers_.erase(id);
    }
    MutexLock lock(mu_);
    ++stats_.segments_deleted;
  }
  if (auto r = dir_->sync(); !r) {
    logger()->warn("could not sync dir={} error=\"{}\"", dir_->path(), r.error().detail);
  }
}

// --- reads, on any thread ---

Result<StoredMessage> MessageLog::read_message(const Position& where) const {
  auto corrupt = [&](const char* why) {
    return store_error(errc::corrupt,
                       fmt::format("segment={} offset={}: {}", where.segment, where.offset, why));
  };
  if (where.length < log_format::kRecordHeaderSize) return corrupt("length too short");
  Bytes buf(where.length);
  auto got = read_written(where.segment, where.offset, std::span<std::uint8_t>(buf));
  if (!got) return got.error();
  if (*got != buf.size()) {
    return store_error(errc::not_written, fmt::format("segment={} offset={} not written yet",
                                                      where.segment, where.offset));
  }
  StoredMessage m;
  log_format::RecordType type{};
  if (const char* why = decode_framed_message(ByteSpan(buf), m, type)) return corrupt(why);
  return m;
}

Result<std::size_t> MessageLog::read_written(SegmentId segment, std::uint64_t offset,
                                             std::span<std::uint8_t> into) const {
  std::uint64_t limit = 0;  // bytes of the segment written; UINT64_MAX for older segments
  {
    MutexLock lock(mu_);
    if (!open_) return store_error(errc::closed, "message log is not open");
    if (segment < written_segment_) {
      limit = UINT64_MAX;
    } else if (segment == written_segment_) {
      limit = written_size_;
    }
  }
  if (offset >= limit) {
    return store_error(errc::not_written,
                       fmt::format("segment={} offset={} not written yet", segment, offset));
  }
  const std::uint64_t want = std::min<std::uint64_t>(into.size(), limit - offset);
  auto file = reader_for(segment);
  if (!file) return file.error();
  return (*file)->read_at(offset, into.first(static_cast<std::size_t>(want)));
}

void MessageLog::prefetch(SegmentId segment, std::uint64_t offset, std::uint64_t length) const {
  if (auto file = reader_for(segment)) (*file)->will_read(offset, length);
}

Result<std::shared_ptr<File>> MessageLog::reader_for(SegmentId segment) const {
  MutexLock lock(read_mu_);
  auto it = readers_.find(segment);
  if (it != readers_.end()) return it->second;
  auto file = dir_->open(log_format::segment_file_name(segment), OpenMode::Read);
  if (!file) return file.error();
  std::shared_ptr<File> shared = std::move(*file);
  readers_.emplace(segment, shared);
  return shared;
}

LogStats MessageLog::stats() const {
  MutexLock lock(mu_);
  LogStats s = stats_;
  for (const Chunk& c : pending_) s.pending_bytes += c.data.size();
  s.segments = segments_.size();
  s.durable_lsn = durable_lsn();
  return s;
}

}  // namespace sluice::store
