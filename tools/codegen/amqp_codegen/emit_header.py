"""Emits the headers of the codec's API: methods.h and the per-class methods/<class>.h.

methods.h is what the rest of the broker includes: the Method variant over every struct, the
codec functions and the name and content look-ups. The structs themselves live in one header
per class so that no header grows past layout.MAX_LINES.
"""

from .cpp_types import CPP_TYPES, member_initialiser
from .layout import HEADER_LINE, class_header_path, include_of, method_blocks
from .naming import pascal


# --- methods/<class>.h ------------------------------------------------------------------------

def gen_struct(m):
    """One method's struct: ids, name and flags as constants, then a member per argument."""
    lines = [
        f"struct {m.struct} {{",
        f"  static constexpr std::uint16_t kClassId = {m.class_id};",
        f"  static constexpr std::uint16_t kMethodId = {m.id};",
        f'  static constexpr std::string_view kName = "{m.full_name}";',
        f"  static constexpr bool kHasContent = {'true' if m.content else 'false'};",
        f"  static constexpr bool kSynchronous = {'true' if m.synchronous else 'false'};",
    ]
    for f in m.fields:
        lines.append(f"  {CPP_TYPES[f.type]} {f.name}{member_initialiser(f)};")
    lines.append(f"  bool operator==(const {m.struct}&) const = default;")
    lines.append("};")
    return "\n".join(lines) + "\n"


def gen_class_header(cls):
    """methods/<class>.h, including only the std headers that class's members need."""
    types = {f.type for m in cls.methods for f in m.fields}
    std = ["<cstdint>"]
    if types & {"shortstr", "longstr"}:
        std.append("<string>")
    std.append("<string_view>")
    parts = [HEADER_LINE, "\n#pragma once\n\n",
             f"// The method structs of the {cls.name} class (class id {cls.id}). Include\n"
             '// "amqp/methods.h", which declares their codec and the Method variant over all '
             "classes.\n\n"]
    parts.append("".join(f"#include {h}\n" for h in std))
    if "table" in types:
        parts.append('\n#include "amqp/field_table.h"\n')
    parts.append("\nnamespace sluice::amqp::method {\n")
    parts.append(method_blocks(cls, gen_struct))
    parts.append("\n}  // namespace sluice::amqp::method\n")
    return "".join(parts)


# --- methods.h --------------------------------------------------------------------------------

H_PREAMBLE = HEADER_LINE + """
#pragma once

// One struct per AMQP 0-9-1 method of every class (method::QueueDeclare is queue.declare),
// the Method variant over all of them, and their codec. The structs of each class are in
// amqp/methods/<class>.h; include this header, not those.
//
// Field names are the definition's, with '-' turned into '_'. Deprecated fields (ticket,
// insist, known-hosts...) are kept so that encoding stays byte-exact; members start at the
// definition's default value. Consecutive bit fields share an octet, first field in the lowest
// bit.
//
// Decoding never reads past the payload and never trusts a length. Errors are amqp errors:
// FRAME_ERROR for truncated arguments, COMMAND_INVALID for an unknown class or method id, and
// what the field-table decoder reports (FRAME_ERROR or SYNTAX_ERROR) for a bad table. Bytes
// after the last argument are ignored, as RabbitMQ ignores them.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "amqp/field_table.h"
"""

H_API = """
// True for the generated method structs (not for Method itself).
template <class T, class V>
struct IsVariantAlternative : std::false_type {};
template <class T, class... Ts>
struct IsVariantAlternative<T, std::variant<Ts...>>
    : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};
template <class T>
concept MethodStruct = IsVariantAlternative<T, Method>::value;

// Decodes the payload of a method frame: class id, method id, arguments.
Result<Method> decode_method(ByteSpan payload);

// Encodes class id, method id and arguments: the payload of a method frame. The overloads for
// single structs avoid building a variant. They are defined in amqp/methods/<class>.cc.
void encode_method(ByteWriter& out, const Method& m);
"""

H_LOOKUPS = """
// "queue.declare", or "" for ids the definition does not have.
std::string_view method_name(std::uint16_t class_id, std::uint16_t method_id);
std::string_view method_name(const Method& m);
std::uint16_t class_id_of(const Method& m);
std::uint16_t method_id_of(const Method& m);
// True for the methods followed by a content header and body (basic.publish, basic.deliver...).
bool method_has_content(std::uint16_t class_id, std::uint16_t method_id);

}  // namespace sluice::amqp
"""


def gen_header(classes):
    """methods.h: includes every class header, then the variant, the API and the overloads."""
    methods = [m for cls in classes for m in cls.methods]
    quoted = [include_of(class_header_path(cls)) for cls in classes]
    quoted += ["common/bytes.h", "common/result.h"]
    parts = [H_PREAMBLE]
    parts.append("".join(f'#include "{h}"\n' for h in sorted(quoted)))
    parts.append("\nnamespace sluice::amqp {\n")
    parts.append("\n// Class ids, for code that dispatches on the class alone.\n")
    parts.append("namespace class_id {\n")
    for cls in classes:
        parts.append(f"inline constexpr std::uint16_t k{pascal(cls.name)} = {cls.id};\n")
    parts.append("}  // namespace class_id\n")
    # One alternative per line reads and diffs better than clang-format's packing.
    parts.append("\n// clang-format off\nusing Method = std::variant<\n")
    parts.append(",\n".join(f"    method::{m.struct}" for m in methods) + ">;\n")
    parts.append("// clang-format on\n")
    parts.append(H_API)
    for cls in classes:
        parts.append("\n")
        for m in cls.methods:
            parts.append(f"void encode_method(ByteWriter& out, const method::{m.struct}& m);\n")
    parts.append(H_LOOKUPS)
    return "".join(parts)
