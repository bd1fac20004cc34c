#pragma once

// MessageLog: the append-only log of persistent messages and their acks, with group commit.
//
// Ownership and threads. The owner (the broker) creates one MessageLog per data directory and
// calls open(), the append_*() functions and close() from one thread, its event loop. Appends
// only encode into a memory buffer: the loop never waits for the disk. A background sync
// thread, started by open() and stopped by close(), writes the buffered records, fdatasyncs,
// and then calls on_durable(lsn) with the highest Lsn now on disk. Records appended while a
// sync runs wait for the next one, so one fdatasync covers every publisher that appended in
// the meantime. read_message() may be called from any thread; it blocks on a pread.
//
// Segments. Records go to fixed-size segment files (data_dir/messages/<20-digit id>.seg). The
// log rolls to a new segment when the next record would pass segment_size; after open() it
// always starts a fresh segment. A segment file is deleted when no queue holds any of its
// messages and every older segment it holds acks for is gone (see FORMAT.md, "Deletion").
//
// Failure. If a write or fdatasync fails, on_failure(error) is called once, durable_lsn stops
// where it was, and every later append returns errc::failed. The log does not retry: after a
// failed fdatasync the kernel may have dropped the dirty pages (see SegmentWriter). The owner
// should stop confirming persistent messages and restart; recovery repairs the tail.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "store/file.h"
#include "store/log_format.h"
#include "store/record.h"
#include "store/recovery.h"
#include "store/segment_writer.h"
#include "store/thread_annotations.h"

namespace sluice::store {

struct MessageLogOptions {
  // Roll to a new segment past this size. Clamped to [4 KiB, 2 GiB]; a record larger than a
  // segment gets a segment of its own.
  std::uint64_t segment_size = 64ull << 20;
  // Recovery logs progress every this many bytes.
  std::uint64_t recovery_progress_bytes = 256ull << 20;
  // Called on the sync thread, in increasing Lsn order, with no lock held. Keep it short: post
  // to the owner's loop. Every record with an Lsn <= the argument is on disk.
  std::function<void(Lsn)> on_durable;
  // Called on the sync thread, at most once, when a write or sync fails.
  std::function<void(const Error&)> on_failure;
};

struct Appended {
  Lsn lsn = 0;
  Position position;
};

// How many queue references one queue holds to records of one segment.
struct SegmentRefs {
  SegmentId segment = 0;
  std::uint64_t count = 0;
};

// Counters for the owner's metrics. Records count messages, acks and purges.
struct LogStats {
  std::uint64_t records_appended = 0;
  std::uint64_t messages_appended = 0;
  std::uint64_t records_synced = 0;
  std::uint64_t messages_synced = 0;
  std::uint64_t syncs = 0;  // fdatasync calls that made records durable
  std::uint64_t bytes_written = 0;
  std::uint64_t pending_bytes = 0;  // appended, not yet handed to the sync thread
  std::uint64_t segments = 0;       // segment files kept, the active one included
  std::uint64_t segments_deleted = 0;
  Lsn durable_lsn = 0;

  double messages_per_sync() const {
    return syncs == 0 ? 0.0 : static_cast<double>(messages_synced) / static_cast<double>(syncs);
  }
};

class MessageLog {
 public:
  explicit MessageLog(MessageLogOptions options);
  ~MessageLog();  // close()s if open, ignoring errors
  MessageLog(const MessageLog&) = delete;
  MessageLog& operator=(const MessageLog&) = delete;

  // Opens data_dir/messages (creating it), replays it and starts the sync thread.
  // Errors: unsupported_version (names the directory and both versions), io_error.
  Result<Recovered> open(const std::string& data_dir);
  // The same over any Directory, for tests. REQUIRES: not open.
  Result<Recovered> open(std::unique_ptr<Directory> dir);

  // Buffers a message stored for m.queues. The message's queue references make its segment
  // live until each queue acks (or purges) it. Errors: invalid_argument (see validate()),
  // failed, closed.
  Result<Appended> append_message(const MessageRecord& m);

  // Buffers a Paged record: a copy of a message that one queue writes only to take it out of
  // memory. It holds one reference, dropped by release_paged(); recovery ignores it.
  // REQUIRES: m.queues is empty. Errors: as append_message.
  Result<Appended> append_paged(const MessageRecord& m);

  // Records that `queue` is done with message `message`, stored at `where` (as returned by
  // append_message or recovery). REQUIRES: the queue holds the message and has not acked it.
  Result<Lsn> append_ack(MessageId message, QueueId queue, const Position& where);

  // Records that `queue` dropped every message it holds (purge or queue deletion), except
  // `still_held`: messages out for delivery, which it keeps until they are acked. `dropped`
  // counts the others by segment. One record, however many messages. REQUIRES: `dropped` and
  // `still_held` are exactly what the queue holds un-acked; still_held sorted by id.
  Result<Lsn> append_purge(QueueId queue, std::span<const SegmentRefs> dropped,
                           std::span<const HeldMessage> still_held = {});

  // A clean stop: records how far each durable queue had delivered (`delivered`: queue, and
  // the highest message id it delivered), then a CleanStop marker. Recovery trusts these only
  // if the marker is the last record of the log. Call just before close().
  Result<void> append_clean_stop(std::span<const DeliveredRecord> delivered);

  // Drops references to Paged records (delivered, or their queue purged). Writes nothing.
  // REQUIRES: each reference was taken by append_paged() and not released yet.
  void release_paged(const Position& where);
  void release_paged(std::span<const SegmentRefs> held);

  // Reads a message back. Errors: not_written (the sync thread has not written it yet: wait
  // for its Lsn to be durable), not_found (its segment is gone), corrupt, io_error.
  Result<StoredMessage> read_message(const Position& where) const;

  // Reads up to into.size() bytes of `segment` from `offset`, but nothing the sync thread has
  // not written yet: returns how many bytes were read, fewer at the written end.
  // Errors: not_written (offset at or past the written end), not_found, io_error.
  Result<std::size_t> read_written(SegmentId segment, std::uint64_t offset,
                                   std::span<std::uint8_t> into) const;
  // Asks the OS to start reading [offset, offset + length) of `segment` in the background.
  void prefetch(SegmentId segment, std::uint64_t offset, std::uint64_t length) const;

  // Writes and syncs everything appended, stops the sync thread. Idempotent.
  Result<void> close();

  Lsn durable_lsn() const { return durable_lsn_.load(std::memory_order_acquire); }
  // Bytes appended that are not durable yet: how far the disk is behind. Any thread.
  std::uint64_t unsynced_bytes() const { return unsynced_bytes_.load(std::memory_order_relaxed); }
  LogStats stats() const;

 private:
  // Records appended since the sync thread last took the buffer, for one segment.
  struct Chunk {
    SegmentId segment = 0;
    std::uint64_t start = 0;  // file offset of data[0]
    Bytes data;
    Lsn last_lsn = 0;
    std::uint64_t messages = 0;
    std::uint64_t records = 0;
  };

  Result<void> check_open() const REQUIRES(mu_);
  Result<Appended> append_message_record(const MessageRecord& m, bool paged);
  Position reserve(std::size_t size) REQUIRES(mu_);
  Chunk& tail_chunk(const Position& first) REQUIRES(mu_);
  Lsn finish_append(Chunk& c, bool message, std::size_t bytes) REQUIRES(mu_);
  template <class Encode>
  Appended put_record(std::size_t size, bool message, Encode&& encode) REQUIRES(mu_);
  void release(SegmentId segment, std::uint64_t count, SegmentId acking) REQUIRES(mu_);
  void collect_garbage() REQUIRES(mu_);

  void sync_loop();
  Result<void> write_batch(std::vector<Chunk>& batch);
  Result<void> switch_segment(SegmentId segment);
  void report_durable(const std::vector<Chunk>& batch);
  void report_failure(const Error& e);
  void recycle(std::vector<Chunk>& batch);
  void delete_segments(const std::vector<SegmentId>& ids);
  Result<std::shared_ptr<File>> reader_for(SegmentId segment) const;

  const MessageLogOptions options_;
  std::unique_ptr<Directory> dir_;  // set by open(); read by every thread, changed by none

  mutable Mutex mu_;
  std::condition_variable cv_;
  bool open_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::optional<Error> failed_ GUARDED_BY(mu_);
  std::vector<Chunk> pending_ GUARDED_BY(mu_);
  std::vector<Bytes> spare_buffers_ GUARDED_BY(mu_);  // written chunks' buffers, for reuse
  std::vector<SegmentId> deletions_ GUARDED_BY(mu_);
  std::map<SegmentId, SegmentState> segments_ GUARDED_BY(mu_);
  SegmentId tail_segment_ GUARDED_BY(mu_) = 0;
  std::uint64_t tail_offset_ GUARDED_BY(mu_) = 0;
  Lsn last_lsn_ GUARDED_BY(mu_) = 0;
  // How far the sync thread has written: everything before (segment, size).
  SegmentId written_segment_ GUARDED_BY(mu_) = 0;
  std::uint64_t written_size_ GUARDED_BY(mu_) = 0;
  LogStats stats_ GUARDED_BY(mu_);

  // Read handles by segment, opened on first read_message().
  mutable Mutex read_mu_;
  mutable std::map<SegmentId, std::shared_ptr<File>> readers_ GUARDED_BY(read_mu_);

  std::atomic<Lsn> durable_lsn_{0};
  std::atomic<std::uint64_t> unsynced_bytes_{0};
  std::unique_ptr<SegmentWriter> writer_;  // sync thread only, after open()
  std::thread sync_thread_;
};

}  // namespace sluice::store
