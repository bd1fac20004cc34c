#include "store/record.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/errc.h"

namespace sluice::store {

using log_format::RecordType;

namespace {

constexpr std::size_t kMaxShortString = 255;
constexpr std::size_t kMaxQueues = 0xffff;

std::size_t payload_size(const MessageRecord& m) {
  return 8 + 2 + 8 * m.queues.size() + 1 + m.exchange.size() + 1 + m.routing_key.size() + 4 +
         m.properties.size() + 4 + m.body.size();
}

Error invalid(std::string detail) {
  return Error{make_error_code(errc::invalid_argument), std::move(detail)};
}

// Writes a record header with zero length and checksum; finish_record() fills them in once
// the payload is there. Returns the record's start.
std::size_t begin_record(RecordType type, Bytes& out) {
  std::size_t start = out.size();
  ByteWriter w(out);
  w.u32(0);
  w.u32(0);
  w.u8(static_cast<std::uint8_t>(type));
  return start;
}

void finish_record(std::size_t start, Bytes& out) {
  constexpr std::size_t kTypeAt = 8;
  std::size_t payload = out.size() - start - log_format::kRecordHeaderSize;
  ByteWriter w(out);
  w.patch_u32(start, static_cast<std::uint32_t>(payload));
  w.patch_u32(start + 4, log_format::checksum(ByteSpan(out).subspan(start + kTypeAt)));
}

bool read_shortstr(ByteReader& r, std::string& out) {
  std::uint8_t n = 0;
  return r.read_u8(n) && r.read_string(n, out);
}

bool skip_shortstr(ByteReader& r) {
  std::uint8_t n = 0;
  ByteSpan ignored;
  return r.read_u8(n) && r.read_span(n, ignored);
}

// A Message record lists at least one queue, a Paged record none.
bool read_queues(ByteReader& r, std::vector<QueueId>& out, bool paged = false) {
  std::uint16_t n = 0;
  if (!r.read_u16(n) || (n == 0) != paged || r.remaining() < 8u * n) return false;
  out.resize(n);
  for (auto& q : out) {
    if (!r.read_u64(q) || q == 0) return false;
  }
  return true;
}

bool read_longbytes(ByteReader& r, Bytes& out) {
  std::uint32_t n = 0;
  ByteSpan s;
  if (!r.read_u32(n) || !r.read_span(n, s)) return false;
  out.assign(s.begin(), s.end());
  return true;
}

void encode_message_as(RecordType type, const MessageRecord& m, Bytes& out) {
  // Grow geometrically: the log appends many records to one buffer, and reserving exactly
  // what each needs would copy the whole buffer on every append.
  const std::size_t needed = out.size() + framed_size(m);
  if (needed > out.capacity()) out.reserve(std::max(needed, 2 * out.capacity()));
  std::size_t start = begin_record(type, out);
  ByteWriter w(out);
  w.u64(m.id);
  w.u16(static_cast<std::uint16_t>(m.queues.size()));
  for (QueueId q : m.queues) w.u64(q);
  w.u8(static_cast<std::uint8_t>(m.exchange.size()));
  w.bytes(m.exchange);
  w.u8(static_cast<std::uint8_t>(m.routing_key.size()));
  w.bytes(m.routing_key);
  w.u32(static_cast<std::uint32_t>(m.properties.size()));
  w.bytes(m.properties);
  w.u32(static_cast<std::uint32_t>(m.body.size()));
  w.bytes(m.body);
  finish_record(start, out);
}

bool decode_message_as(RecordType type, ByteSpan payload, StoredMessage& out) {
  ByteReader r(payload);
  bool parsed = r.read_u64(out.id) && read_queues(r, out.queues, type == RecordType::Paged) &&
                read_shortstr(r, out.exchange) && read_shortstr(r, out.routing_key) &&
                read_longbytes(r, out.properties) && read_longbytes(r, out.body);
  return parsed && r.empty();
}

}  // namespace

Result<void> validate(const MessageRecord& m) {
  if (m.queues.empty()) return invalid("message has no queues");
  if (m.queues.size() > kMaxQueues) return invalid("message stored for more than 65535 queues");
  for (QueueId q : m.queues) {
    if (q == 0) return invalid("queue id 0 is reserved");
  }
  return validate_paged(MessageRecord{.id = m.id,
                                      .exchange = m.exchange,
                                      .routing_key = m.routing_key,
                                      .properties = m.properties,
                                      .body = m.body});
}

Result<void> validate_paged(const MessageRecord& m) {
  if (!m.queues.empty()) return invalid("a paged record has no queues");
  if (m.exchange.size() > kMaxShortString) return invalid("exchange name longer than 255");
  if (m.routing_key.size() > kMaxShortString) return invalid("routing key longer than 255");
  if (payload_size(m) > log_format::kMaxPayloadSize) {
    return invalid(fmt::format("message of {} bytes is too large", payload_size(m)));
  }
  return ok();
}

std::size_t framed_size(const MessageRecord& m) {
  return log_format::kRecordHeaderSize + payload_size(m);
}

void encode_message(const MessageRecord& m, Bytes& out) {
  encode_message_as(RecordType::Message, m, out);
}

void encode_paged(const MessageRecord& m, Bytes& out) {
  encode_message_as(RecordType::Paged, m, out);
}

void encode_ack(const AckRecord& a, Bytes& out) {
  std::size_t start = begin_record(RecordType::Ack, out);
  ByteWriter w(out);
  w.u64(a.message);
  w.u64(a.queue);
  finish_record(start, out);
}

void encode_purge(QueueId queue, std::span<const HeldMessage> held, Bytes& out) {
  std::size_t start = begin_record(RecordType::Purge, out);
  ByteWriter w(out);
  w.u64(queue);
  if (!held.empty()) {  // a purge without held messages keeps version 1's layout
    w.u32(static_cast<std::uint32_t>(held.size()));
    for (const HeldMessage& h : held) {
      w.u64(h.id);
      w.u64(h.segment);
      w.u32(h.offset);
    }
  }
  finish_record(start, out);
}

bool decode_message(ByteSpan payload, StoredMessage& out) {
  return decode_message_as(RecordType::Message, payload, out);
}

bool decode_paged(ByteSpan payload, StoredMessage& out) {
  return decode_message_as(RecordType::Paged, payload, out);
}

const char* decode_framed_message(ByteSpan framed, StoredMessage& out, RecordType& type) {
  ByteReader r(framed);
  std::uint32_t length = 0;
  std::uint32_t stored = 0;
  std::uint8_t raw_type = 0;
  if (!(r.read_u32(length) && r.read_u32(stored) && r.read_u8(raw_type))) return "short record";
  if (std::uint64_t{length} + log_format::kRecordHeaderSize != framed.size()) {
    return "length mismatch";
  }
  if (log_format::checksum(framed.subspan(8)) != stored) return "bad checksum";
  type = static_cast<RecordType>(raw_type);
  if (type != RecordType::Message && type != RecordType::Paged) return "not a message record";
  if (!decode_message_as(type, framed.subspan(log_format::kRecordHeaderSize), out)) {
    return "bad payload";
  }
  return nullptr;
}

bool decode_message_header(ByteSpan payload, MessageHeaderView& out) {
  // Checks the whole layout, as decode_message() does, without copying names or body.
  ByteReader r(payload);
  std::uint32_t n = 0;
  ByteSpan skipped;
  bool parsed = r.read_u64(out.id) && read_queues(r, out.queues) && skip_shortstr(r) &&
                skip_shortstr(r) && r.read_u32(n) && r.read_span(n, skipped) && r.read_u32(n) &&
                r.read_span(n, skipped);
  return parsed && r.empty();
}

bool decode_ack(ByteSpan payload, AckRecord& out) {
  ByteReader r(payload);
  return r.read_u64(out.message) && r.read_u64(out.queue) && r.empty();
}

void encode_delivered(const DeliveredRecord& d, Bytes& out) {
  std::size_t start = begin_record(RecordType::Delivered, out);
  ByteWriter w(out);
  w.u64(d.queue);
  w.u64(d.upto);
  finish_record(start, out);
}

void encode_clean_stop(Bytes& out) { finish_record(begin_record(RecordType::CleanStop, out), out); }

bool decode_delivered(ByteSpan payload, DeliveredRecord& out) {
  ByteReader r(payload);
  return r.read_u64(out.queue) && r.read_u64(out.upto) && r.empty();
}

bool decode_purge(ByteSpan payload, PurgeRecord& out) {
  ByteReader r(payload);
  out.held.clear();
  if (!r.read_u64(out.queue)) return false;
  if (r.empty()) return true;
  std::uint32_t n = 0;
  if (!r.read_u32(n) || n == 0 || r.remaining() != std::size_t{n} * 20) return false;
  out.held.resize(n);
  for (HeldMessage& h : out.held) {
    if (!(r.read_u64(h.id) && r.read_u64(h.segment) && r.read_u32(h.offset))) return false;
  }
  return true;
}

}  // namespace sluice::store
