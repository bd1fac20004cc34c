"""Emits methods/codec_internal.h: what the per-class codec files share.

The per-class decoders and encoders are written against a small vocabulary (ArgReader,
pack_bits, write_ids) so that each generated function is a flat list of one call per
argument. That vocabulary is C++ the generator does not vary, kept here as text next to the
declarations of the decoders, which methods.cc dispatches to.
"""

from .layout import HEADER_LINE

INTERNAL_PREAMBLE = HEADER_LINE + """
#pragma once

// What the generated codec files share: the argument reader and bit packing the per-class
// decoders and encoders (amqp/methods/<class>.cc) are written with, and those decoders, which
// decode_method (methods.cc) dispatches to. Not part of the codec's API.

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "amqp/field_table.h"
#include "amqp/methods.h"
#include "amqp/reply_code.h"
#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp::detail {

constexpr std::uint32_t method_key(std::uint16_t class_id, std::uint16_t method_id) {
  return (std::uint32_t{class_id} << 16) | method_id;
}

// Reads the arguments of one method in order. The first failure sticks and makes later reads
// no-ops, so a generated decoder reads every field unconditionally and looks at the outcome
// once, in finish().
class ArgReader {
 public:
  ArgReader(ByteReader& in, std::string_view method) : in_(in), method_(method) {}

  void u8(std::uint8_t& v, std::string_view field) { read(ok() && in_.read_u8(v), field); }
  void u16(std::uint16_t& v, std::string_view field) { read(ok() && in_.read_u16(v), field); }
  void u32(std::uint32_t& v, std::string_view field) { read(ok() && in_.read_u32(v), field); }
  void u64(std::uint64_t& v, std::string_view field) { read(ok() && in_.read_u64(v), field); }
  void shortstr(std::string& v, std::string_view field) {
    read(ok() && decode_shortstr(in_, v), field);
  }
  void longstr(std::string& v, std::string_view field) {
    read(ok() && decode_longstr(in_, v), field);
  }

  void table(FieldTable& v, std::string_view field) {
    if (!ok()) return;
    Result<void> r = decode_table(in_, v);
    if (r.ok()) return;
    // Keep the table decoder's code: SYNTAX_ERROR for a bad type tag must stay one.
    const bool truncated = r.error().code == make_error_code(ReplyCode::FrameError);
    const std::string_view prefix = truncated ? "truncated " : "";
    error_ = Error{r.error().code, fmt::format("method {}: {}field '{}': {}", method_, prefix,
                                               field, r.error().detail)};
  }

  // Up to eight consecutive bit fields share one octet, the first field in the lowest bit.
  // Bits beyond the last field are ignored.
  void bits(std::initializer_list<bool*> fields, std::string_view first_field) {
    std::uint8_t octet = 0;
    read(ok() && in_.read_u8(octet), first_field);
    unsigned bit = 0;
    for (bool* f : fields) *f = (octet >> bit++) & 1;
  }

  template <class M>
  Result<Method> finish(M&& m) {
    if (error_) return std::move(*error_);
    return Method{std::forward<M>(m)};
  }

 private:
  bool ok() const { return !error_.has_value(); }

  // Records the first failure only: later fields are not read once one has failed.
  void read(bool read_ok, std::string_view field) {
    if (read_ok || error_) return;
    error_ = amqp_error(ReplyCode::FrameError,
                        fmt::format("method {}: truncated field '{}'", method_, field));
  }

  ByteReader& in_;
  std::string_view method_;
  std::optional<Error> error_;
};

inline std::uint8_t pack_bits(std::initializer_list<bool> bits) {
  std::uint8_t octet = 0;
  unsigned bit = 0;
  for (bool b : bits) octet = static_cast<std::uint8_t>(octet | (unsigned{b} << bit++));
  return octet;
}

template <class M>
void write_ids(ByteWriter& out, const M&) {
  out.u16(M::kClassId);
  out.u16(M::kMethodId);
}

// The decoders of amqp/methods/<class>.cc: each reads the arguments after the method id.
"""


def gen_codec_internal(classes):
    """The fixed part, then one decoder declaration per method, a block per class."""
    parts = [INTERNAL_PREAMBLE]
    for cls in classes:
        parts.append("\n")
        for m in cls.methods:
            parts.append(f"Result<Method> decode_{m.snake}(ByteReader& in);\n")
    parts.append("\n}  // namespace sluice::amqp::detail\n")
    return "".join(parts)
