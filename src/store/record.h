#pragma once

// The records of the message log, and their encoding (see FORMAT.md for the byte layout).
//
// Encoders append one complete framed record (length, checksum, type, payload) to a buffer
// the caller owns. Decoders take the payload of a record whose checksum has already been
// checked, and still never read past it: a payload that does not parse is reported, not
// asserted on, since it came from disk.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "store/log_format.h"

namespace sluice::store {

// A message as the broker hands it to the log. Views only; nothing is owned.
struct MessageRecord {
  MessageId id = 0;
  std::span<const QueueId> queues;  // the durable queues it was stored for; body stored once
  std::string_view exchange;        // shortstr: at most 255 bytes
  std::string_view routing_key;     // shortstr: at most 255 bytes
  ByteSpan properties;              // encoded content-header properties, opaque to the store
  ByteSpan body;
};

// A message read back from the log. Owns its bytes.
struct StoredMessage {
  MessageId id = 0;
  std::vector<QueueId> queues;
  std::string exchange;
  std::string routing_key;
  Bytes properties;
  Bytes body;
};

struct AckRecord {
  MessageId message = 0;
  QueueId queue = 0;
};

// A message a purged queue still holds: it was out for delivery, not acked, when the queue
// was purged, so the purge does not retire it.
struct HeldMessage {
  MessageId id = 0;
  SegmentId segment = 0;
  std::uint32_t offset = 0;

  friend bool operator==(const HeldMessage&, const HeldMessage&) = default;
};

struct DeliveredRecord {
  QueueId queue = 0;
  MessageId upto = 0;
};

struct PurgeRecord {
  QueueId queue = 0;
  std::vector<HeldMessage> held;  // sorted by id
};

// What recovery needs from a Message record: the rest (names, body) is left unread.
struct MessageHeaderView {
  MessageId id = 0;
  std::vector<QueueId> queues;
};

// Checks what the format cannot hold: no queues, more than 65535, queue id 0, a name longer
// than 255, or a payload past kMaxPayloadSize. Returns invalid_argument naming the problem.
Result<void> validate(const MessageRecord& m);
// The same for a Paged record, which has no queues.
Result<void> validate_paged(const MessageRecord& m);

// Framed size of a record, header included. REQUIRES: validate(m).ok().
std::size_t framed_size(const MessageRecord& m);
inline constexpr std::size_t kAckFramedSize = log_format::kRecordHeaderSize + 16;
inline constexpr std::size_t kDeliveredFramedSize = log_format::kRecordHeaderSize + 16;
inline constexpr std::size_t kCleanStopFramedSize = log_format::kRecordHeaderSize;
// A purge with `held` messages still held.
inline constexpr std::size_t purge_framed_size(std::size_t held) {
  return log_format::kRecordHeaderSize + 8 + (held == 0 ? 0 : 4 + 20 * held);
}

// REQUIRES: validate(m).ok().
void encode_message(const MessageRecord& m, Bytes& out);
// REQUIRES: validate_paged(m).ok().
void encode_paged(const MessageRecord& m, Bytes& out);
void encode_ack(const AckRecord& a, Bytes& out);
void encode_purge(QueueId queue, std::span<const HeldMessage> held, Bytes& out);
void encode_delivered(const DeliveredRecord& d, Bytes& out);
void encode_clean_stop(Bytes& out);

// Return false if the payload does not parse (including trailing bytes).
[[nodiscard]] bool decode_message(ByteSpan payload, StoredMessage& out);
[[nodiscard]] bool decode_paged(ByteSpan payload, StoredMessage& out);  // out.queues empty
[[nodiscard]] bool decode_message_header(ByteSpan payload, MessageHeaderView& out);
[[nodiscard]] bool decode_ack(ByteSpan payload, AckRecord& out);

// Checks and decodes a whole framed Message or Paged record read back by position (length,
// checksum and type checked again: the bytes came from disk). Returns null on success, else
// why the record is bad. `type` says which of the two it was.
[[nodiscard]] const char* decode_framed_message(ByteSpan framed, StoredMessage& out,
                                                log_format::RecordType& type);
[[nodiscard]] bool decode_purge(ByteSpan payload, PurgeRecord& out);
[[nodiscard]] bool decode_delivered(ByteSpan payload, DeliveredRecord& out);

}  // namespace sluice::store
