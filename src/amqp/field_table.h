#pragma once

// AMQP field tables and arrays, with every field type RabbitMQ accepts.
//
// Tables keep their wire order (RabbitMQ treats them as ordered lists, and clients compare
// declare arguments by content). Decoding is bounded: lengths are checked against the
// remaining input before anything is allocated, and nesting deeper than kMaxFieldDepth is
// refused, so hostile input cannot exhaust the stack.
//
// Type tags (RabbitMQ's, which differ from the 0-9-1 PDF for a few integer types):
//   t bool  b int8  B uint8  s int16  u uint16  I int32  i uint32  l int64
//   f float  d double  D decimal  S long string  x byte array  T timestamp
//   F table  A array  V void

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp {

inline constexpr int kMaxFieldDepth = 64;

struct FieldValue;
using FieldTable = std::vector<std::pair<std::string, FieldValue>>;
using FieldArray = std::vector<FieldValue>;

struct Void {
  bool operator==(const Void&) const = default;
};
struct Decimal {
  std::uint8_t scale = 0;
  std::uint32_t value = 0;
  bool operator==(const Decimal&) const = default;
};
struct Timestamp {
  std::uint64_t seconds = 0;
  bool operator==(const Timestamp&) const = default;
};
// 'x': opaque bytes, distinct from a long string 'S' on the wire.
struct ByteArray {
  std::string bytes;
  bool operator==(const ByteArray&) const = default;
};

struct FieldValue {
  using Variant = std::variant<Void, bool, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t,
                               std::int32_t, std::uint32_t, std::int64_t, float, double, Decimal,
                               std::string, ByteArray, Timestamp, FieldArray, FieldTable>;
  Variant value;

  FieldValue() = default;
  template <class T>
  FieldValue(T v) : value(std::move(v)) {}  // NOLINT: implicit by design
  FieldValue(const char* s) : value(std::string(s)) {}  // NOLINT: implicit by design

  bool operator==(const FieldValue&) const = default;
};

// Decoding. Errors are amqp errors: FRAME_ERROR for truncated input or lengths that do not fit,
// SYNTAX_ERROR for an unknown type tag or nesting beyond kMaxFieldDepth.
Result<void> decode_table(ByteReader& in, FieldTable& out, int depth = 0);
Result<void> decode_array(ByteReader& in, FieldArray& out, int depth = 0);
Result<void> decode_field_value(ByteReader& in, FieldValue& out, int depth = 0);

// Encoding writes the 32-bit length prefix followed by the entries.
void encode_table(ByteWriter& out, const FieldTable& table);
void encode_array(ByteWriter& out, const FieldArray& array);
void encode_field_value(ByteWriter& out, const FieldValue& value);

// AMQP strings, shared by the table, property and method codecs. A shortstr has a one-octet
// length, so encode_shortstr() cuts a longer string to 255 bytes; it asserts in debug builds,
// because callers are expected to keep names and keys short.
void encode_shortstr(ByteWriter& out, std::string_view s);
void encode_longstr(ByteWriter& out, std::string_view s);
// Both return false, leaving `in` where it was, when the input is shorter than the length says.
[[nodiscard]] bool decode_shortstr(ByteReader& in, std::string& out);
[[nodiscard]] bool decode_longstr(ByteReader& in, std::string& out);

// Look-ups used by handlers (client capabilities, x-arguments). First match wins, as in
// RabbitMQ.
const FieldValue* table_find(const FieldTable& table, std::string_view key);
std::optional<bool> table_bool(const FieldTable& table, std::string_view key);
// Any integer type (signed or unsigned, 8 to 64 bits) as int64; nullopt if absent or not an
// integer (a uint64 does not exist on the wire, so nothing is lost).
std::optional<std::int64_t> table_int(const FieldTable& table, std::string_view key);
// A long string ('S') or byte array ('x') as a view into the table.
std::optional<std::string_view> table_string(const FieldTable& table, std::string_view key);

}  // namespace sluice::amqp
