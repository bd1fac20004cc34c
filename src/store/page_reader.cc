#include "store/page_reader.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/errc.h"
#include "store/message_log.h"

namespace sluice::store {

using log_format::kRecordHeaderSize;

Result<ReadBack> PageReader::read(SegmentId segment, std::uint32_t offset) {
  auto corrupt = [&](const char* why) {
    return Error{make_error_code(errc::corrupt),
                 fmt::format("segment={} offset={}: {}", segment, offset, why)};
  };
  auto header = fill(segment, offset, kRecordHeaderSize);
  if (!header) return header.error();
  if (!*header) return corrupt("record past the end of the segment");

  ByteReader r(ByteSpan(buf_).subspan(offset - buf_start_, kRecordHeaderSize));
  std::uint32_t length = 0;
  (void)r.read_u32(length);
  if (length > log_format::kMaxPayloadSize) return corrupt("bad length");
  const std::size_t size = kRecordHeaderSize + std::size_t{length};
  auto whole = fill(segment, offset, size);
  if (!whole) return whole.error();
  if (!*whole) return corrupt("record past the end of the segment");

  ReadBack out;
  log_format::RecordType type{};
  ByteSpan framed = ByteSpan(buf_).subspan(offset - buf_start_, size);
  if (const char* why = decode_framed_message(framed, out.message, type)) return corrupt(why);
  out.position = Position{segment, offset, static_cast<std::uint32_t>(size)};
  out.paged_copy = type == log_format::RecordType::Paged;
  return out;
}

void PageReader::reset() {
  Bytes().swap(buf_);
  buf_segment_ = 0;
  buf_start_ = 0;
}

Result<bool> PageReader::fill(SegmentId segment, std::uint64_t offset, std::size_t n) {
  if (segment == buf_segment_ && offset >= buf_start_ && offset + n <= buf_start_ + buf_.size()) {
    return true;
  }
  // Read from the record on: the queue's next records follow it.
  buf_.resize(std::max(buffer_size_, n));
  auto got = log_.read_written(segment, offset, std::span<std::uint8_t>(buf_));
  if (!got) {
    buf_.clear();
    return got.error();
  }
  buf_.resize(*got);
  buf_segment_ = segment;
  buf_start_ = offset;
  // The loop reads synchronously: have the OS fetch the next buffers while these are served.
  log_.prefetch(segment, offset + buf_.size(), kPrefetchBuffers * buffer_size_);
  return *got >= n;
}

}  // namespace sluice::store
