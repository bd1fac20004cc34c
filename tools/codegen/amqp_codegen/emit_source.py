"""Emits the codec's definitions: methods/<class>.cc and methods.cc.

methods/<class>.cc holds a decoder and an encoder per method, each one statement per wire
item (spec.Method.wire_items), so a reader can check it against the definition line by line.
methods.cc holds what spans every class: decode_method's switch over (class id, method id),
method_name and method_has_content.
"""

from .cpp_types import READERS, WRITERS
from .layout import (CODEC_INTERNAL_PATH, COLUMN_LIMIT, HEADER_LINE, class_header_path,
                     include_of, method_blocks)


# --- methods/<class>.cc -----------------------------------------------------------------------

def gen_decoder(m):
    """detail::decode_<method>: reads every argument unconditionally; ArgReader keeps the
    first failure and finish() reports it."""
    lines = [
        f"Result<Method> decode_{m.snake}(ByteReader& in) {{",
        f"  method::{m.struct} m;",
        "  ArgReader r(in, m.kName);",
    ]
    for item in m.wire_items():
        if isinstance(item, list):
            ptrs = ", ".join(f"&m.{f.name}" for f in item)
            lines.append(f'  r.bits({{{ptrs}}}, "{item[0].spec_name}");')
        else:
            lines.append(f'  r.{READERS[item.type]}(m.{item.name}, "{item.spec_name}");')
    lines.append("  return r.finish(std::move(m));")
    lines.append("}")
    return "\n".join(lines) + "\n"


def gen_encoder(m):
    """encode_method's overload for one struct: the ids, then each wire item."""
    lines = [f"void encode_method(ByteWriter& out, const method::{m.struct}& m) {{",
             "  detail::write_ids(out, m);"]
    for item in m.wire_items():
        if isinstance(item, list):
            values = ", ".join(f"m.{f.name}" for f in item)
            lines.append(f"  out.u8(detail::pack_bits({{{values}}}));")
        else:
            lines.append("  " + WRITERS[item.type].format(f"m.{item.name}") + ";")
    lines.append("}")
    if len(lines) == 3 and len(lines[0]) + len(lines[1]) - 1 + 2 <= COLUMN_LIMIT:
        # No arguments: clang-format puts such a short function on one line.
        return f"{lines[0]}{lines[1][1:]} }}\n"
    return "\n".join(lines) + "\n"


def gen_class_source(cls):
    """methods/<class>.cc: the class's decoders (in detail::), then its encoders."""
    parts = [HEADER_LINE, "\n//\n",
             f"// Decoders and encoders of the {cls.name} class's methods.\n\n",
             f'#include "{include_of(class_header_path(cls))}"\n\n',
             "#include <utility>\n\n",
             '#include "amqp/methods.h"\n',
             f'#include "{include_of(CODEC_INTERNAL_PATH)}"\n\n',
             "namespace sluice::amqp {\n",
             "namespace detail {\n"]
    parts.append(method_blocks(cls, gen_decoder))
    parts.append("\n}  // namespace detail\n")
    parts.append(method_blocks(cls, gen_encoder))
    parts.append("\n}  // namespace sluice::amqp\n")
    return "".join(parts)


# --- methods.cc -------------------------------------------------------------------------------

CC_PREAMBLE = HEADER_LINE + """
//
// The tables over every method: decode_method's dispatch to the per-class decoders
// (amqp/methods/<class>.cc), names and content flags.

#include "amqp/methods.h"

#include <fmt/format.h>

#include "amqp/methods/codec_internal.h"
#include "amqp/reply_code.h"

namespace sluice::amqp {

using detail::method_key;

Result<Method> decode_method(ByteSpan payload) {
  ByteReader in(payload);
  std::uint16_t class_id = 0;
  std::uint16_t method_id = 0;
  if (!in.read_u16(class_id) || !in.read_u16(method_id)) {
    return amqp_error(
        ReplyCode::FrameError,
        fmt::format("method frame payload of {} bytes has no method id", payload.size()));
  }
  switch (method_key(class_id, method_id)) {
"""

CC_DISPATCH_TAIL = """  }
  return amqp_error(ReplyCode::CommandInvalid,
                    fmt::format("unknown method class={} method={}", class_id, method_id));
}

void encode_method(ByteWriter& out, const Method& m) {
  std::visit([&out](const auto& alternative) { encode_method(out, alternative); }, m);
}
"""

CC_LOOKUPS_TAIL = """
std::string_view method_name(const Method& m) {
  return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::kName; }, m);
}

std::uint16_t class_id_of(const Method& m) {
  return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::kClassId; }, m);
}

std::uint16_t method_id_of(const Method& m) {
  return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::kMethodId; }, m);
}

}  // namespace sluice::amqp
"""


def gen_source(classes):
    """methods.cc: the fixed dispatch frame around one case per method, then the look-ups."""
    methods = [m for cls in classes for m in cls.methods]
    parts = [CC_PREAMBLE]
    for m in methods:
        parts.append(f"    case method_key({m.class_id}, {m.id}):\n"
                     f"      return detail::decode_{m.snake}(in);\n")
    parts.append(CC_DISPATCH_TAIL)
    parts.append("\nstd::string_view method_name(std::uint16_t class_id, "
                 "std::uint16_t method_id) {\n"
                 "  switch (method_key(class_id, method_id)) {\n")
    for m in methods:
        parts.append(f"    case method_key({m.class_id}, {m.id}):\n"
                     f"      return method::{m.struct}::kName;\n")
    parts.append("  }\n  return {};\n}\n")
    parts.append("\nbool method_has_content(std::uint16_t class_id, std::uint16_t method_id) {\n"
                 "  switch (method_key(class_id, method_id)) {\n")
    for m in [m for m in methods if m.content]:
        parts.append(f"    case method_key({m.class_id}, {m.id}):\n")
    parts.append("      return true;\n  }\n  return false;\n}\n")
    parts.append(CC_LOOKUPS_TAIL)
    return "".join(parts)
