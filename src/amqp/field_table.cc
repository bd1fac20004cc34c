#include "amqp/field_table.h"

#include <fmt/format.h>

#include <bit>
#include <cassert>
#include <type_traits>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

constexpr std::size_t kShortStrMax = 255;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
// Clang 14 lacks class template argument deduction for aggregates.
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

Error truncated(std::string_view what) {
  return amqp_error(ReplyCode::FrameError, fmt::format("truncated {}", what));
}

std::string describe_tag(std::uint8_t tag) {
  if (tag >= 0x21 && tag < 0x7f) return fmt::format("'{}'", static_cast<char>(tag));
  return fmt::format("0x{:02X}", tag);
}

// Reads a 32-bit length and the bytes it covers, refusing a length beyond the input.
Result<void> read_sized(ByteReader& in, std::string_view what, ByteSpan& body) {
  std::uint32_t size = 0;
  if (!in.read_u32(size)) return truncated(fmt::format("{} length", what));
  if (!in.read_span(size, body)) {
    return amqp_error(
        ReplyCode::FrameError,
        fmt::format("{} length {} exceeds the {} bytes remaining", what, size, in.remaining()));
  }
  return ok();
}

// Reads a fixed-size scalar. Signed types are read as their unsigned twin and converted, which
// C++20 defines as two's complement; floats are taken bit for bit so NaN payloads survive.
template <class T>
bool read_scalar(ByteReader& in, FieldValue& out) {
  if constexpr (std::is_same_v<T, float>) {
    std::uint32_t bits = 0;
    if (!in.read_u32(bits)) return false;
    out.value = std::bit_cast<float>(bits);
  } else if constexpr (std::is_same_v<T, double>) {
    std::uint64_t bits = 0;
    if (!in.read_u64(bits)) return false;
    out.value = std::bit_cast<double>(bits);
  } else {
    std::make_unsigned_t<T> raw = 0;
    bool read_ok = false;
    if constexpr (sizeof(T) == 1) read_ok = in.read_u8(raw);
    if constexpr (sizeof(T) == 2) read_ok = in.read_u16(raw);
    if constexpr (sizeof(T) == 4) read_ok = in.read_u32(raw);
    if constexpr (sizeof(T) == 8) read_ok = in.read_u64(raw);
    if (!read_ok) return false;
    out.value = static_cast<T>(raw);
  }
  return true;
}

// Numbers: the integer and floating-point tags. Returns false for any other tag.
bool read_fixed(std::uint8_t tag, ByteReader& in, FieldValue& out, bool& read_ok) {
  // One line per tag reads as the table it is.
  // clang-format off
  switch (tag) {
    case 'b': read_ok = read_scalar<std::int8_t>(in, out); return true;
    case 'B': read_ok = read_scalar<std::uint8_t>(in, out); return true;
    case 's': read_ok = read_scalar<std::int16_t>(in, out); return true;
    case 'u': read_ok = read_scalar<std::uint16_t>(in, out); return true;
    case 'I': read_ok = read_scalar<std::int32_t>(in, out); return true;
    case 'i': read_ok = read_scalar<std::uint32_t>(in, out); return true;
    case 'l': read_ok = read_scalar<std::int64_t>(in, out); return true;
    case 'f': read_ok = read_scalar<float>(in, out); return true;
    case 'd': read_ok = read_scalar<double>(in, out); return true;
    default: return false;
  }
  // clang-format on
}

// Bool, decimal, timestamp and void. Returns false for any other tag.
bool read_special(std::uint8_t tag, ByteReader& in, FieldValue& out, bool& read_ok) {
  switch (tag) {
    case 't': {
      std::uint8_t b = 0;
      read_ok = in.read_u8(b);
      out.value = b != 0;
      return true;
    }
    case 'D': {
      Decimal d;
      read_ok = in.read_u8(d.scale) && in.read_u32(d.value);
      out.value = d;
      return true;
    }
    case 'T': {
      Timestamp t;
      read_ok = in.read_u64(t.seconds);
      out.value = t;
      return true;
    }
    case 'V':
      read_ok = true;
      out.value = Void{};
      return true;
    default:
      return false;
  }
}

Result<void> read_string_value(std::uint8_t tag, ByteReader& in, FieldValue& out) {
  std::string s;
  if (!decode_longstr(in, s)) {
    return truncated(tag == 'S' ? "long string value" : "byte array value");
  }
  if (tag == 'S') {
    out.value = std::move(s);
  } else {
    out.value = ByteArray{std::move(s)};
  }
  return ok();
}

// Decodes one tagged value; `where` names the container for error messages.
Result<void> decode_tagged(ByteReader& in, FieldValue& out, int depth, std::string_view where) {
  std::uint8_t tag = 0;
  if (!in.read_u8(tag)) return truncated(fmt::format("field type in {}", where));

  bool read_ok = false;
  if (read_fixed(tag, in, out, read_ok) || read_special(tag, in, out, read_ok)) {
    if (read_ok) return ok();
    return truncated(fmt::format("{} value in {}", describe_tag(tag), where));
  }
  switch (tag) {
    case 'S':
    case 'x':
      return read_string_value(tag, in, out);
    case 'F': {
      FieldTable table;
      if (auto r = decode_table(in, table, depth + 1); !r) return r;
      out.value = std::move(table);
      return ok();
    }
    case 'A': {
      FieldArray array;
      if (auto r = decode_array(in, array, depth + 1); !r) return r;
      out.value = std::move(array);
      return ok();
    }
    default:
      return amqp_error(ReplyCode::SyntaxError,
                        fmt::format("unknown field type {} in {}", describe_tag(tag), where));
  }
}

Result<void> check_depth(int depth) {
  if (depth <= kMaxFieldDepth) return ok();
  return amqp_error(ReplyCode::SyntaxError,
                    fmt::format("field tables and arrays nested deeper than {}", kMaxFieldDepth));
}

template <class T>
void write_scalar(ByteWriter& out, char tag, T v) {
  out.u8(static_cast<std::uint8_t>(tag));
  if constexpr (std::is_same_v<T, float>) {
    out.u32(std::bit_cast<std::uint32_t>(v));
  } else if constexpr (std::is_same_v<T, double>) {
    out.u64(std::bit_cast<std::uint64_t>(v));
  } else {
    const auto raw = static_cast<std::make_unsigned_t<T>>(v);
    if constexpr (sizeof(T) == 1) out.u8(raw);
    if constexpr (sizeof(T) == 2) out.u16(raw);
    if constexpr (sizeof(T) == 4) out.u32(raw);
    if constexpr (sizeof(T) == 8) out.u64(raw);
  }
}

void write_tag(ByteWriter& out, char tag) { out.u8(static_cast<std::uint8_t>(tag)); }

}  // namespace

void encode_shortstr(ByteWriter& out, std::string_view s) {
  assert(s.size() <= kShortStrMax && "shortstr longer than 255 bytes");
  if (s.size() > kShortStrMax) s = s.substr(0, kShortStrMax);
  out.u8(static_cast<std::uint8_t>(s.size()));
  out.bytes(s);
}

void encode_longstr(ByteWriter& out, std::string_view s) {
  out.u32(static_cast<std::uint32_t>(s.size()));
  out.bytes(s);
}

bool decode_shortstr(ByteReader& in, std::string& out) {
  ByteReader probe = in;
  std::uint8_t size = 0;
  if (!probe.read_u8(size) || !probe.read_string(size, out)) return false;
  in = probe;
  return true;
}

bool decode_longstr(ByteReader& in, std::string& out) {
  ByteReader probe = in;
  std::uint32_t size = 0;
  if (!probe.read_u32(size) || !probe.read_string(size, out)) return false;
  in = probe;
  return true;
}

Result<void> decode_table(ByteReader& in, FieldTable& out, int depth) {
  if (auto r = check_depth(depth); !r) return r;
  ByteSpan body;
  if (auto r = read_sized(in, "field table", body); !r) return r;

  out.clear();
  ByteReader entries(body);
  while (!entries.empty()) {
    std::string key;
    if (!decode_shortstr(entries, key)) return truncated("field table key");
    FieldValue value;
    if (auto r = decode_tagged(entries, value, depth, "table"); !r) return r;
    out.emplace_back(std::move(key), std::move(value));
  }
  return ok();
}

Result<void> decode_array(ByteReader& in, FieldArray& out, int depth) {
  if (auto r = check_depth(depth); !r) return r;
  ByteSpan body;
  if (auto r = read_sized(in, "field array", body); !r) return r;

  out.clear();
  ByteReader items(body);
  while (!items.empty()) {
    FieldValue value;
    if (auto r = decode_tagged(items, value, depth, "array"); !r) return r;
    out.push_back(std::move(value));
  }
  return ok();
}

Result<void> decode_field_value(ByteReader& in, FieldValue& out, int depth) {
  if (auto r = check_depth(depth); !r) return r;
  return decode_tagged(in, out, depth, "field value");
}

void encode_table(ByteWriter& out, const FieldTable& table) {
  const std::size_t start = out.size();
  out.u32(0);  // patched below, once the entries' size is known
  for (const auto& [key, value] : table) {
    encode_shortstr(out, key);
    encode_field_value(out, value);
  }
  out.patch_u32(start, static_cast<std::uint32_t>(out.size() - start - 4));
}

void encode_array(ByteWriter& out, const FieldArray& array) {
  const std::size_t start = out.size();
  out.u32(0);  // patched below, once the items' size is known
  for (const FieldValue& value : array) encode_field_value(out, value);
  out.patch_u32(start, static_cast<std::uint32_t>(out.size() - start - 4));
}

void encode_field_value(ByteWriter& out, const FieldValue& value) {
  std::visit(Overloaded{
                 [&](Void) { write_tag(out, 'V'); },
                 [&](bool v) { write_scalar<std::uint8_t>(out, 't', v ? 1 : 0); },
                 [&](std::int8_t v) { write_scalar(out, 'b', v); },
                 [&](std::uint8_t v) { write_scalar(out, 'B', v); },
                 [&](std::int16_t v) { write_scalar(out, 's', v); },
                 [&](std::uint16_t v) { write_scalar(out, 'u', v); },
                 [&](std::int32_t v) { write_scalar(out, 'I', v); },
                 [&](std::uint32_t v) { write_scalar(out, 'i', v); },
                 [&](std::int64_t v) { write_scalar(out, 'l', v); },
                 [&](float v) { write_scalar(out, 'f', v); },
                 [&](double v) { write_scalar(out, 'd', v); },
                 [&](const Decimal& v) {
                   write_scalar(out, 'D', v.scale);
                   out.u32(v.value);
                 },
                 [&](const std::string& v) {
                   write_tag(out, 'S');
                   encode_longstr(out, v);
                 },
                 [&](const ByteArray& v) {
                   write_tag(out, 'x');
                   encode_longstr(out, v.bytes);
                 },
                 [&](const Timestamp& v) { write_scalar(out, 'T', v.seconds); },
                 [&](const FieldArray& v) {
                   write_tag(out, 'A');
                   encode_array(out, v);
                 },
                 [&](const FieldTable& v) {
                   write_tag(out, 'F');
                   encode_table(out, v);
                 },
             },
             value.value);
}

const FieldValue* table_find(const FieldTable& table, std::string_view key) {
  for (const auto& [k, v] : table) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<bool> table_bool(const FieldTable& table, std::string_view key) {
  const FieldValue* v = table_find(table, key);
  if (v == nullptr) return std::nullopt;
  if (const bool* b = std::get_if<bool>(&v->value)) return *b;
  return std::nullopt;
}

std::optional<std::int64_t> table_int(const FieldTable& table, std::string_view key) {
  const FieldValue* v = table_find(table, key);
  if (v == nullptr) return std::nullopt;
  return std::visit(
      [](const auto& x) -> std::optional<std::int64_t> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          return static_cast<std::int64_t>(x);
        } else {
          return std::nullopt;
        }
      },
      v->value);
}

std::optional<std::string_view> table_string(const FieldTable& table, std::string_view key) {
  const FieldValue* v = table_find(table, key);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&v->value)) return *s;
  if (const auto* b = std::get_if<ByteArray>(&v->value)) return b->bytes;
  return std::nullopt;
}

}  // namespace sluice::amqp
