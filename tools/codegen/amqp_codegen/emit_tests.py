"""Emits the generated codec tests: one test file, a support header, and samples per class.

The tests themselves (methods_test.cc) do not depend on the definition: they are
value-parameterised over ClassSamples, and each class's methods_<class>_test.cc supplies
that class's samples and instantiates them. So a new method gets round-trip, truncation and
bit-position tests with no new test code, and methods_test.cc does not grow with the definition.
"""

from .cpp_types import cpp_string
from .layout import HEADER_LINE, TEST_SUPPORT_PATH, include_of, method_blocks
from .naming import pascal

TEST_SUPPORT = HEADER_LINE + """
#pragma once

// The generated method tests are value-parameterised over the AMQP classes: methods_test.cc
// defines the MethodCodecByClass tests, and each methods_<class>_test.cc instantiates them
// with that class's samples.

#include <gtest/gtest.h>

#include <ostream>
#include <string_view>
#include <vector>

#include "amqp/methods.h"

namespace sluice::amqp {

struct ClassSamples {
  std::string_view name;
  // Every method of the class, with every field away from its default.
  std::vector<Method> (*non_default)();
  // For each method with two or more bit fields, one sample per bit with only that bit set.
  std::vector<Method> (*single_bit)();
};

inline void PrintTo(const ClassSamples& samples, std::ostream* os) { *os << samples.name; }

class MethodCodecByClass : public testing::TestWithParam<ClassSamples> {};

// A table with a nested table and an array, for the samples' table fields.
FieldTable sample_table();

}  // namespace sluice::amqp
"""

TEST_BODY = HEADER_LINE + """
//
// Every method round-trips with every field away from its default, every truncation of every
// method fails cleanly, and the ids, names and content flags agree with the definition. The
// samples are per class, in methods_<class>_test.cc.

#include "amqp/methods.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "amqp/reply_code.h"
#include "amqp/tests/methods_test_support.h"

namespace sluice::amqp {

using namespace std::string_literals;

FieldTable sample_table() {
  return {{"int", std::int32_t{-7}},
          {"nested", FieldTable{{"str", "value"s}, {"flag", true}}},
          {"list", FieldArray{std::int64_t{1} << 40, Void{}}}};
}

namespace {

Bytes encode(const Method& m) {
  Bytes out;
  ByteWriter writer(out);
  encode_method(writer, m);
  return out;
}

TEST_P(MethodCodecByClass, EveryMethodRoundTripsWithNonDefaultValues) {
  for (const Method& sample : GetParam().non_default()) {
    const Bytes wire = encode(sample);
    Result<Method> decoded = decode_method(wire);
    ASSERT_TRUE(decoded.ok()) << method_name(sample) << ": " << decoded.error().detail;
    EXPECT_TRUE(*decoded == sample) << method_name(sample);
    EXPECT_EQ(encode(*decoded), wire) << method_name(sample);
  }
}

TEST_P(MethodCodecByClass, NonDefaultSamplesDifferFromDefaults) {
  for (const Method& sample : GetParam().non_default()) {
    std::visit(
        [](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          if constexpr (!std::is_empty_v<M>) {
            EXPECT_FALSE(m == M{}) << M::kName;
          }
        },
        sample);
  }
}

TEST_P(MethodCodecByClass, SamplesAreOfTheirClass) {
  for (const Method& sample : GetParam().non_default()) {
    EXPECT_EQ(method_name(sample).substr(0, GetParam().name.size() + 1),
              std::string(GetParam().name) + ".");
  }
}

TEST_P(MethodCodecByClass, StructOverloadEncodesLikeTheVariant) {
  for (const Method& sample : GetParam().non_default()) {
    Bytes direct;
    ByteWriter writer(direct);
    std::visit([&writer](const auto& m) { encode_method(writer, m); }, sample);
    EXPECT_EQ(direct, encode(sample)) << method_name(sample);
  }
}

TEST_P(MethodCodecByClass, EveryTruncationOfEveryMethodFails) {
  for (const Method& sample : GetParam().non_default()) {
    const Bytes wire = encode(sample);
    for (std::size_t size = 0; size < wire.size(); ++size) {
      Result<Method> decoded = decode_method(ByteSpan(wire.data(), size));
      ASSERT_FALSE(decoded.ok()) << method_name(sample) << " cut to " << size;
      EXPECT_EQ(decoded.error().code, make_error_code(ReplyCode::FrameError));
      if (size >= 4) {
        const std::string prefix = "method " + std::string(method_name(sample)) + ": ";
        EXPECT_EQ(decoded.error().detail.rfind(prefix, 0), 0u) << decoded.error().detail;
      }
    }
  }
}

TEST_P(MethodCodecByClass, TrailingBytesAfterTheLastArgumentAreIgnored) {
  for (const Method& sample : GetParam().non_default()) {
    Bytes wire = encode(sample);
    wire.insert(wire.end(), {0xde, 0xad});
    Result<Method> decoded = decode_method(wire);
    ASSERT_TRUE(decoded.ok()) << method_name(sample);
    EXPECT_TRUE(*decoded == sample) << method_name(sample);
  }
}

TEST_P(MethodCodecByClass, IdsNamesAndContentFlagsAgree) {
  for (const Method& sample : GetParam().non_default()) {
    std::visit(
        [&sample](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          EXPECT_EQ(class_id_of(sample), M::kClassId);
          EXPECT_EQ(method_id_of(sample), M::kMethodId);
          EXPECT_EQ(method_name(M::kClassId, M::kMethodId), M::kName);
          EXPECT_EQ(method_name(sample), M::kName);
          EXPECT_EQ(method_has_content(M::kClassId, M::kMethodId), M::kHasContent);
        },
        sample);
  }
}

TEST_P(MethodCodecByClass, EachBitHasItsOwnPosition) {
  const std::vector<Method> samples = GetParam().single_bit();
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const Bytes wire = encode(samples[i]);
    Result<Method> decoded = decode_method(wire);
    ASSERT_TRUE(decoded.ok()) << method_name(samples[i]);
    EXPECT_TRUE(*decoded == samples[i]) << method_name(samples[i]) << " sample " << i;
    for (std::size_t j = 0; j < i; ++j) {
      if (class_id_of(samples[j]) != class_id_of(samples[i])) continue;
      if (method_id_of(samples[j]) != method_id_of(samples[i])) continue;
      EXPECT_NE(encode(samples[j]), wire) << method_name(samples[i]) << " bits " << i << j;
    }
  }
}

}  // namespace
}  // namespace sluice::amqp
"""


def sample_value(m, index, f):
    """A value that differs from the field's default, deterministic per field.

    Numbers also differ per position (index), so an encoder that swaps two fields of the same
    type fails the round trip; strings carry the method and field name for the same reason.
    """
    tag = f"{m.full_name}:{f.spec_name}"
    if f.type == "bit":
        return "false" if f.default else "true"
    if f.type == "octet":
        return f"0x{0xA0 + index:02X}"
    if f.type == "short":
        return f"0x{0xB100 + index:04X}"
    if f.type == "long":
        return f"0x{0xC2000000 + index:08X}"
    if f.type in ("longlong", "timestamp"):
        return f"0x{0xD300000000000000 + index:016X}ULL"
    if f.type == "shortstr":
        return cpp_string(tag)
    if f.type == "longstr":
        # A NUL and a high byte: long strings are binary.
        return f"std::string({cpp_string(tag)[:-1]}\\x00\\xff\", {len(tag.encode()) + 2})"
    if f.type == "table":
        return "sample_table()"
    raise SystemExit(f"no sample for type {f.type}")


def gen_sample(m):
    """sample_<method>(): the method with every field set to its sample_value."""
    lines = [f"method::{m.struct} sample_{m.snake}() {{", f"  method::{m.struct} m;"]
    for i, f in enumerate(m.fields):
        lines.append(f"  m.{f.name} = {sample_value(m, i, f)};")
    lines += ["  return m;", "}"]
    return "\n".join(lines) + "\n"


def gen_bit_samples(cls):
    """single_bit_samples(): for each method with two or more bits, one sample per bit with
    only that bit set, so that two bits packed into the same position cannot pass."""
    lines = ["std::vector<Method> single_bit_samples() {", "  std::vector<Method> all;"]
    for m in cls.methods:
        bits = [f for f in m.fields if f.type == "bit"]
        if len(bits) < 2:
            continue
        for on in bits:
            lines.append("  {")
            lines.append(f"    method::{m.struct} m;")
            for f in bits:
                lines.append(f"    m.{f.name} = {'true' if f is on else 'false'};")
            lines.append("    all.emplace_back(m);")
            lines.append("  }")
    if len(lines) == 2:
        # No method of the class has two bits: clang-format keeps this on one line.
        return "std::vector<Method> single_bit_samples() { return {}; }\n"
    lines += ["  return all;", "}"]
    return "\n".join(lines) + "\n"


def gen_class_test(cls):
    """methods_<class>_test.cc: the samples, their two lists, and the suite instantiation."""
    std = ["<vector>"]
    if any(f.type == "longstr" for m in cls.methods for f in m.fields):
        std.insert(0, "<string>")
    parts = [HEADER_LINE, "\n//\n",
             f"// The {cls.name} class's samples for the MethodCodecByClass tests "
             "(methods_test.cc).\n\n",
             "#include <gtest/gtest.h>\n\n",
             "".join(f"#include {h}\n" for h in std),
             f'\n#include "amqp/methods.h"\n#include "{include_of(TEST_SUPPORT_PATH)}"\n\n',
             "namespace sluice::amqp {\nnamespace {\n"]
    parts.append(method_blocks(cls, gen_sample))
    # One statement per sample: clang-format would pack a braced list into columns.
    parts.append("\nstd::vector<Method> non_default_samples() {\n  std::vector<Method> all;\n")
    parts.append("".join(f"  all.emplace_back(sample_{m.snake}());\n" for m in cls.methods))
    parts.append("  return all;\n}\n\n")
    parts.append(gen_bit_samples(cls))
    parts.append(f"\nINSTANTIATE_TEST_SUITE_P({pascal(cls.name)}, MethodCodecByClass,\n"
                 f'                         testing::Values(ClassSamples{{"{cls.name}", '
                 "&non_default_samples,\n"
                 "                                                      "
                 "&single_bit_samples}));\n")
    parts.append("\n}  // namespace\n}  // namespace sluice::amqp\n")
    return "".join(parts)
