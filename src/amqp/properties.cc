#include "amqp/properties.h"

#include <fmt/format.h>

#include <type_traits>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

constexpr std::uint16_t kBasicClassId = 60;
// Bit 0 of a flag word says another flag word follows.
constexpr std::uint16_t kMoreFlags = 0x0001;

// The flag bit of the property at `index` in spec order: the first property is bit 15.
constexpr std::uint16_t flag_bit(int index) {
  return static_cast<std::uint16_t>(1u << (15 - index));
}

bool read_value(ByteReader& in, std::string& v) { return decode_shortstr(in, v); }
bool read_value(ByteReader& in, std::uint8_t& v) { return in.read_u8(v); }
bool read_value(ByteReader& in, std::uint64_t& v) { return in.read_u64(v); }

void write_value(ByteWriter& out, const std::string& v) { encode_shortstr(out, v); }
void write_value(ByteWriter& out, std::uint8_t v) { out.u8(v); }
void write_value(ByteWriter& out, std::uint64_t v) { out.u64(v); }
void write_value(ByteWriter& out, const FieldTable& v) { encode_table(out, v); }

// Reads the properties whose flags are set, in spec order. The first failure sticks.
class PropertyReader {
 public:
  PropertyReader(ByteReader& in, std::uint16_t flags) : in_(in), flags_(flags) {}

  template <class T>
  void read(std::optional<T>& out, std::string_view name) {
    const bool present = flags_ & flag_bit(index_++);
    if (!present || error_) return;
    T value{};
    if constexpr (std::is_same_v<T, FieldTable>) {
      Result<void> r = decode_table(in_, value);
      if (!r.ok()) {
        error_ = Error{r.error().code,
                       fmt::format("content header: property '{}': {}", name, r.error().detail)};
        return;
      }
    } else if (!read_value(in_, value)) {
      error_ = amqp_error(ReplyCode::FrameError,
                          fmt::format("content header: truncated property '{}'", name));
      return;
    }
    out = std::move(value);
  }

  std::optional<Error> take_error() { return std::move(error_); }

 private:
  ByteReader& in_;
  std::uint16_t flags_;
  int index_ = 0;
  std::optional<Error> error_;
};

// Reads the flag words. Only the first carries basic's properties; later words exist for
// classes with more than 15 properties and are read and ignored.
bool read_flags(ByteReader& in, std::uint16_t& flags) {
  if (!in.read_u16(flags)) return false;
  std::uint16_t word = flags;
  while (word & kMoreFlags) {
    if (!in.read_u16(word)) return false;
  }
  return true;
}

Result<void> read_properties(ByteReader& in, std::uint16_t flags, BasicProperties& p) {
  PropertyReader r(in, flags);
  r.read(p.content_type, "content-type");
  r.read(p.content_encoding, "content-encoding");
  r.read(p.headers, "headers");
  r.read(p.delivery_mode, "delivery-mode");
  r.read(p.priority, "priority");
  r.read(p.correlation_id, "correlation-id");
  r.read(p.reply_to, "reply-to");
  r.read(p.expiration, "expiration");
  r.read(p.message_id, "message-id");
  r.read(p.timestamp, "timestamp");
  r.read(p.type, "type");
  r.read(p.user_id, "user-id");
  r.read(p.app_id, "app-id");
  r.read(p.cluster_id, "cluster-id");
  if (auto error = r.take_error()) return std::move(*error);
  return ok();
}

// Calls f(optional) for each property in spec order.
template <class F>
void for_each_property(const BasicProperties& p, F&& f) {
  f(p.content_type);
  f(p.content_encoding);
  f(p.headers);
  f(p.delivery_mode);
  f(p.priority);
  f(p.correlation_id);
  f(p.reply_to);
  f(p.expiration);
  f(p.message_id);
  f(p.timestamp);
  f(p.type);
  f(p.user_id);
  f(p.app_id);
  f(p.cluster_id);
}

}  // namespace

Result<ContentHeader> decode_content_header(ByteSpan payload) {
  ByteReader in(payload);
  ContentHeader header;
  if (!in.read_u16(header.class_id) || !in.read_u16(header.weight) ||
      !in.read_u64(header.body_size)) {
    return amqp_error(ReplyCode::FrameError,
                      fmt::format("content header of {} bytes is truncated", payload.size()));
  }
  // Basic is the only class with content; without its property list we cannot read further.
  if (header.class_id != kBasicClassId) {
    return amqp_error(
        ReplyCode::FrameError,
        fmt::format("content header for class {}, which has no content", header.class_id));
  }

  std::uint16_t flags = 0;
  if (!read_flags(in, flags)) {
    return amqp_error(ReplyCode::FrameError, "content header: truncated property flags");
  }
  if (auto r = read_properties(in, flags, header.properties); !r) return r.error();
  if (!in.empty()) {
    return amqp_error(ReplyCode::FrameError,
                      fmt::format("content header has {} trailing bytes", in.remaining()));
  }
  return header;
}

void encode_content_header(ByteWriter& out, const ContentHeader& header) {
  out.u16(header.class_id);
  out.u16(header.weight);
  out.u64(header.body_size);

  std::uint16_t flags = 0;
  int index = 0;
  for_each_property(header.properties, [&](const auto& prop) {
    if (prop) flags = static_cast<std::uint16_t>(flags | flag_bit(index));
    ++index;
  });
  out.u16(flags);

  for_each_property(header.properties, [&](const auto& prop) {
    if (prop) write_value(out, *prop);
  });
}

}  // namespace sluice::amqp
