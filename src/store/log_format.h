#pragma once

// Layout of message-log segment files. src/store/FORMAT.md is the reference and gives the
// grammar; a change here means a change there, and a format version bump if old readers
// would misread the result.
//
//   segment := header record*
//   header  := magic[8] "SLUICELG" | version u32 | segment_id u64 | checksum u32
//   record  := length u32 | checksum u32 | type u8 | payload[length]
//
// Integers are big-endian. A record's checksum covers type and payload. Checksums are the low
// 32 bits of XXH3-64 (seed 0); FORMAT.md says why not CRC32C.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"

namespace sluice::store {

using SegmentId = std::uint64_t;
using MessageId = std::uint64_t;
using QueueId = std::uint64_t;

// Log sequence number: the order of appends within one open MessageLog, starting at 1. It is
// not stored on disk and starts again after every open.
using Lsn = std::uint64_t;

// Where a record is: its segment, and its place and framed size in the segment file.
struct Position {
  SegmentId segment = 0;
  std::uint32_t offset = 0;  // of the record's first byte (its length field)
  std::uint32_t length = 0;  // framed size, header included

  friend bool operator==(const Position&, const Position&) = default;
};

// Some of a queue's messages, all in one segment: the offsets of their records, in queue
// order. This is all a queue keeps in memory for a message it paged out: 4 bytes.
struct OffsetRun {
  SegmentId segment = 0;
  std::vector<std::uint32_t> offsets;
};

namespace log_format {

inline constexpr std::array<std::uint8_t, 8> kMagic = {'S', 'L', 'U', 'I', 'C', 'E', 'L', 'G'};

// The version this build writes, and the newest it reads. Version 1 had no Paged records;
// version 2 reads it as is.
inline constexpr std::uint32_t kFormatVersion = 2;

inline constexpr std::size_t kHeaderSize = 8 + 4 + 8 + 4;
inline constexpr std::size_t kRecordHeaderSize = 4 + 4 + 1;

// Larger lengths are corruption. Covers a 512 MiB body (RabbitMQ's largest) plus metadata.
inline constexpr std::uint32_t kMaxPayloadSize = (512u << 20) + (1u << 20);

enum class RecordType : std::uint8_t {
  Message = 1,  // message_id u64 | queues | exchange | routing_key | properties | body
  Ack = 2,      // message_id u64 | queue_id u64
  Purge = 3,    // queue_id u64: every earlier message of the queue is gone
  // A message written only to take it out of memory (a transient message, or one in a queue
  // that does not store messages). Message layout with no queues; recovery skips it.
  Paged = 4,
  // queue_id u64 | message_id u64: the queue had delivered every message up to this id at a
  // clean stop. Written only just before CleanStop; see FORMAT.md, "Redelivered".
  Delivered = 5,
  CleanStop = 6,  // no payload: the broker stopped cleanly, everything before is durable
};

bool is_known_type(std::uint8_t type);

struct SegmentHeader {
  std::uint32_t version = 0;
  SegmentId segment = 0;
};

enum class HeaderStatus {
  Ok,
  Short,  // fewer than kHeaderSize bytes
  BadMagic,
  BadChecksum,
  NewerVersion,  // valid header, version > kFormatVersion; `version` says which
};

const char* to_string(HeaderStatus s);

void encode_header(SegmentId segment, Bytes& out);
HeaderStatus decode_header(ByteSpan bytes, SegmentHeader& out);

// The checksum of a record: `type_and_payload` starts at the type byte.
std::uint32_t checksum(ByteSpan type_and_payload);

// Segment file names: 20-digit zero-padded decimal id, ".seg". A segment moved aside after a
// bad header gets ".corrupt" appended.
std::string segment_file_name(SegmentId segment);
bool parse_segment_file_name(std::string_view name, SegmentId& out);
bool parse_corrupt_file_name(std::string_view name, SegmentId& out);
inline constexpr std::string_view kCorruptSuffix = ".corrupt";

}  // namespace log_format
}  // namespace sluice::store
