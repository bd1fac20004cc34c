#pragma once

// PageReader: reads a queue's paged-out messages back from the message log, in queue order.
//
// A queue that pages out keeps only the segment and offset of each message's record. Those
// records are mostly consecutive in the log, so the reader reads ahead: one pread fills a
// buffer that serves the records that follow, instead of one pread per message, and the OS is
// asked (posix_fadvise) to fetch the next buffers meanwhile, so that the broker loop, which
// reads synchronously, seldom waits for the disk. A record is
// checked again (length, checksum, type) when read back; the bytes came from disk.
//
// Used by one queue on the broker loop. Borrows the log, which must outlive it.

#include <cstdint>

#include "common/bytes.h"
#include "common/result.h"
#include "store/log_format.h"
#include "store/record.h"

namespace sluice::store {

class MessageLog;

struct ReadBack {
  StoredMessage message;
  Position position;
  // A Paged record: the queue's own copy, released without an ack record.
  bool paged_copy = false;
};

class PageReader {
 public:
  static constexpr std::size_t kDefaultBufferSize = 256 << 10;
  // After each read, the OS is asked to read this many buffers further in the background.
  static constexpr std::size_t kPrefetchBuffers = 4;

  explicit PageReader(const MessageLog& log, std::size_t buffer_size = kDefaultBufferSize)
      : log_(log), buffer_size_(buffer_size) {}

  // Reads the Message or Paged record at `offset` of `segment`.
  // Errors: corrupt (names segment, offset and why), not_written, not_found, io_error.
  Result<ReadBack> read(SegmentId segment, std::uint32_t offset);

  // Frees the buffer; the next read() allocates it again.
  void reset();

 private:
  // Makes [offset, offset + n) of `segment` available in buf_. False if the segment ends
  // first; errors are the log's.
  Result<bool> fill(SegmentId segment, std::uint64_t offset, std::size_t n);

  const MessageLog& log_;
  std::size_t buffer_size_;
  Bytes buf_;
  SegmentId buf_segment_ = 0;
  std::uint64_t buf_start_ = 0;  // segment offset of buf_[0]
};

}  // namespace sluice::store
