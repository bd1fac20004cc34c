#include "store/segment_reader.h"

#include <algorithm>

#include "store/errc.h"

namespace sluice::store {

using log_format::kRecordHeaderSize;

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::None:
      return "none";
    case StopReason::CleanEnd:
      return "clean_end";
    case StopReason::TornRecord:
      return "torn_record";
    case StopReason::ChecksumMismatch:
      return "checksum_mismatch";
    case StopReason::BadLength:
      return "bad_length";
    case StopReason::BadType:
      return "unknown_type";
    case StopReason::IoError:
      return "read_error";
  }
  return "unknown";
}

SegmentReader::SegmentReader(File& file, std::uint64_t file_size, std::size_t buffer_size)
    : file_(file), file_size_(file_size), buffer_size_(std::max<std::size_t>(buffer_size, 64)) {}

Result<HeaderCheck> SegmentReader::read_header() {
  HeaderCheck check;
  if (file_size_ < log_format::kHeaderSize) return check;  // Short
  if (!fill(log_format::kHeaderSize)) return io_error_;
  check.status = log_format::decode_header(ByteSpan(buf_), check.header);
  pos_ = log_format::kHeaderSize;
  return check;
}

bool SegmentReader::next(RecordView& out) {
  if (stop_ != StopReason::None) return false;
  std::uint64_t remaining = file_size_ - pos_;
  if (remaining == 0) return stop(StopReason::CleanEnd);
  if (remaining < kRecordHeaderSize) return stop(StopReason::TornRecord);

  // Record header: is the length believable, and is all of the record there?
  if (!fill(kRecordHeaderSize)) return stop(StopReason::IoError);
  ByteReader r(ByteSpan(buf_).subspan(pos_ - buf_start_, kRecordHeaderSize));
  std::uint32_t length = 0;
  std::uint32_t stored = 0;
  std::uint8_t type = 0;
  (void)(r.read_u32(length) && r.read_u32(stored) && r.read_u8(type));
  if (length > log_format::kMaxPayloadSize) return stop(StopReason::BadLength);
  std::uint64_t size = kRecordHeaderSize + std::uint64_t{length};
  if (size > remaining) return stop(StopReason::TornRecord);

  // Whole record: checksum over type and payload, then the type.
  if (!fill(size)) return stop(StopReason::IoError);
  ByteSpan record = ByteSpan(buf_).subspan(pos_ - buf_start_, size);
  if (log_format::checksum(record.subspan(8)) != stored) {
    return stop(StopReason::ChecksumMismatch);
  }
  if (!log_format::is_known_type(type)) return stop(StopReason::BadType);

  out.type = static_cast<log_format::RecordType>(type);
  out.payload = record.subspan(kRecordHeaderSize);
  out.offset = pos_;
  out.size = static_cast<std::uint32_t>(size);
  pos_ += size;
  return true;
}

bool SegmentReader::fill(std::size_t n) {
  if (pos_ >= buf_start_ && pos_ + n <= buf_start_ + buf_.size()) return true;

  // Refill from pos_. The part of the old buffer past pos_ is read again; it is at most one
  // partial record, which keeps this simple at little cost.
  std::size_t want = static_cast<std::size_t>(
      std::min<std::uint64_t>(std::max(n, buffer_size_), file_size_ - pos_));
  buf_.resize(want);
  buf_start_ = pos_;
  auto got = file_.read_at(pos_, std::span<std::uint8_t>(buf_));
  if (!got) {
    io_error_ = got.error();
    buf_.clear();
    return false;
  }
  buf_.resize(*got);
  if (*got < n) {
    io_error_ = Error{make_error_code(errc::io_error), "segment shrank while being read"};
    return false;
  }
  return true;
}

bool SegmentReader::stop(StopReason r) {
  stop_ = r;
  return false;
}

}  // namespace sluice::store
