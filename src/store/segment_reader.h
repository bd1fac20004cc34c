#pragma once

// SegmentReader: reads the records of one segment file in order, and says where and why it
// stopped.
//
// It reads through a buffer in large chunks, checks every record's length and checksum, and
// stops at the first record that does not check out. It never asserts on what it reads. The
// caller decides what to do with the stop: recovery truncates the file at stop_offset().
//
// Lifetime: borrows the File, which must outlive the reader. One thread at a time.

#include <cstdint>

#include "common/bytes.h"
#include "common/result.h"
#include "store/file.h"
#include "store/log_format.h"

namespace sluice::store {

enum class StopReason {
  None,              // not stopped yet
  CleanEnd,          // the last record ended exactly at the end of the file
  TornRecord,        // the file ends inside a record (header or payload)
  ChecksumMismatch,  // a whole record is there but its checksum is wrong
  BadLength,         // a length larger than kMaxPayloadSize
  BadType,           // a checksummed record of a type this version does not know
  IoError,           // a read failed; see io_error()
};

const char* to_string(StopReason r);

// A record as read; `payload` points into the reader's buffer and is valid until next().
struct RecordView {
  log_format::RecordType type{};
  ByteSpan payload;
  std::uint64_t offset = 0;  // of the record's first byte in the file
  std::uint32_t size = 0;    // framed size, header included
};

struct HeaderCheck {
  log_format::HeaderStatus status = log_format::HeaderStatus::Short;
  log_format::SegmentHeader header;
};

class SegmentReader {
 public:
  static constexpr std::size_t kDefaultBufferSize = 1 << 20;

  // REQUIRES: file_size is the file's current size.
  SegmentReader(File& file, std::uint64_t file_size, std::size_t buffer_size = kDefaultBufferSize);

  // Reads and checks the header. Call first; on anything but Ok, do not call next().
  Result<HeaderCheck> read_header();

  // Reads the next record into `out`. Returns false once stopped; see stop_reason().
  bool next(RecordView& out);

  StopReason stop_reason() const { return stop_; }
  // Where the good prefix of the file ends: the first byte of the record that stopped the
  // reader, or the file size after a clean end.
  std::uint64_t stop_offset() const { return pos_; }
  const Error& io_error() const { return io_error_; }

 private:
  // Makes [pos_, pos_ + n) available in the buffer. REQUIRES: pos_ + n <= file_size_.
  bool fill(std::size_t n);
  bool stop(StopReason r);

  File& file_;
  std::uint64_t file_size_;
  std::size_t buffer_size_;
  Bytes buf_;
  std::uint64_t buf_start_ = 0;  // file offset of buf_[0]
  std::uint64_t pos_ = 0;        // file offset of the next record
  StopReason stop_ = StopReason::None;
  Error io_error_;
};

}  // namespace sluice::store
