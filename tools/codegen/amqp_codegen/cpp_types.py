"""How each AMQP wire type appears in C++: member type, decoder call, encoder statement.

The keys of CPP_TYPES are the wire types the definition's domains bottom out in; spec.py
resolves every argument to one of them. READERS and WRITERS name what the generated code
calls, so they must match ArgReader (emit_codec_internal.py) and common/bytes.h and
amqp/field_table.h. Bits have no reader or writer of their own: runs of them are packed into
octets (spec.Method.wire_items).
"""

CPP_TYPES = {
    "octet": "std::uint8_t",
    "short": "std::uint16_t",
    "long": "std::uint32_t",
    "longlong": "std::uint64_t",
    "timestamp": "std::uint64_t",
    "shortstr": "std::string",
    "longstr": "std::string",
    "table": "FieldTable",
    "bit": "bool",
}
# ArgReader member (methods/codec_internal.h) and encoder statement for each non-bit type.
READERS = {
    "octet": "u8", "short": "u16", "long": "u32", "longlong": "u64", "timestamp": "u64",
    "shortstr": "shortstr", "longstr": "longstr", "table": "table",
}
WRITERS = {
    "octet": "out.u8({})", "short": "out.u16({})", "long": "out.u32({})",
    "longlong": "out.u64({})", "timestamp": "out.u64({})",
    "shortstr": "encode_shortstr(out, {})", "longstr": "encode_longstr(out, {})",
    "table": "encode_table(out, {})",
}


def cpp_string(value):
    """A C++ string literal of value's UTF-8 bytes, escaping all but printable ASCII.

    Byte-wise hex escapes keep the generated files ASCII and make binary test strings exact.
    """
    out = []
    for ch in value.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= ch < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{ch:02x}")
    return '"' + "".join(out) + '"'


def member_initialiser(f):
    """' = value' for a struct member, so that a default-built struct has the definition's
    default values; '' where the C++ default (empty string or table) already is that."""
    if f.type == "bit":
        return " = true" if f.default else " = false"
    if f.type in ("shortstr", "longstr"):
        return f" = {cpp_string(f.default)}" if f.default else ""
    if f.type == "table":
        if f.default not in (None, {}):
            raise SystemExit(f"non-empty table default for {f.spec_name} is not supported")
        return ""
    return f" = {int(f.default or 0)}"
