#include "amqp/field_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

using namespace std::string_literals;

Bytes encode(const FieldTable& t) {
  Bytes out;
  ByteWriter w(out);
  encode_table(w, t);
  return out;
}

Result<FieldTable> decode(ByteSpan bytes) {
  ByteReader in(bytes);
  FieldTable t;
  if (auto r = decode_table(in, t); !r) return r.error();
  return t;
}

// A table holding every type RabbitMQ knows, with negative and extreme values.
FieldTable every_type() {
  return {
      {"void", Void{}},
      {"true", true},
      {"false", false},
      {"i8", std::int8_t{-128}},
      {"u8", std::uint8_t{255}},
      {"i16", std::int16_t{-32768}},
      {"u16", std::uint16_t{65535}},
      {"i32", std::int32_t{-2147483647 - 1}},
      {"u32", std::uint32_t{4294967295u}},
      {"i64", std::numeric_limits<std::int64_t>::min()},
      {"f", -1.5f},
      {"d", 6.02214076e23},
      {"decimal", Decimal{2, 12345}},
      {"str", "long string with \0 inside"s},
      {"bytes", ByteArray{"\x00\x01\xfe\xff"s}},
      {"ts", Timestamp{1700000000}},
      {"array", FieldArray{std::int32_t{-1}, "two"s, FieldArray{}, FieldTable{{"k", Void{}}}}},
      {"table", FieldTable{{"inner", FieldTable{{"deep", std::int64_t{-42}}}}}},
      {"", "empty key"s},
  };
}

void expect_error(const Result<FieldTable>& r, ReplyCode code, std::string_view detail) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(code));
  EXPECT_NE(r.error().detail.find(detail), std::string::npos) << r.error().detail;
}

TEST(FieldTable, RoundTripsEveryType) {
  const FieldTable table = every_type();
  const Bytes wire = encode(table);
  Result<FieldTable> decoded = decode(wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  EXPECT_EQ(*decoded, table);
  EXPECT_EQ(encode(*decoded), wire);
}

TEST(FieldTable, EncodesRabbitMqTypeTags) {
  // Key "a": signed 32-bit -2 ('I'); key "b": unsigned 16-bit ('u').
  const FieldTable table = {{"a", std::int32_t{-2}}, {"b", std::uint16_t{0x0102}}};
  const Bytes expected = {0,    0,    0,    12,           // table length
                          1,    'a',  'I',                // key "a", signed 32-bit
                          0xff, 0xff, 0xff, 0xfe,         // -2
                          1,    'b',  'u',  0x01, 0x02};  // key "b", unsigned 16-bit 0x0102
  EXPECT_EQ(encode(table), expected);
}

TEST(FieldTable, EncodesDecimalVoidAndByteArrayBytes) {
  const FieldTable table = {{"d", Decimal{3, 0x01020304}}, {"v", Void{}}, {"x", ByteArray{"hi"}}};
  const Bytes expected = {
      0, 0,   0,   20,                    // table length
      1, 'd', 'D', 3,  1, 2, 3, 4,        // scale 3, value 0x01020304
      1, 'v', 'V',                        // void: the tag alone
      1, 'x', 'x', 0,  0, 0, 2, 'h', 'i'  // byte array, 32-bit length
  };
  EXPECT_EQ(encode(table), expected);
}

TEST(FieldTable, KeepsWireOrderAndDuplicateKeys) {
  const FieldTable table = {{"z", std::int32_t{1}}, {"a", std::int32_t{2}}, {"z", std::int32_t{3}}};
  Result<FieldTable> decoded = decode(encode(table));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, table);
  EXPECT_EQ(table_int(*decoded, "z"), 1);
}

TEST(FieldTable, KeepsNanBitsExactly) {
  const std::uint32_t float_nan = 0x7fc12345;
  const std::uint64_t double_nan = 0xfff0000000000123ULL;
  const Bytes wire = {
      0, 0,   0,   18,                                       // table length
      1, 'f', 'f', 0x7f, 0xc1, 0x23, 0x45,                   // float quiet NaN with payload
      1, 'd', 'd', 0xff, 0xf0, 0,    0,    0, 0, 0x01, 0x23  // double signalling NaN
  };
  Result<FieldTable> decoded = decode(wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  EXPECT_TRUE(std::isnan(std::get<float>((*decoded)[0].second.value)));
  EXPECT_EQ(std::bit_cast<std::uint32_t>(std::get<float>((*decoded)[0].second.value)), float_nan);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(std::get<double>((*decoded)[1].second.value)), double_nan);
  EXPECT_EQ(encode(*decoded), wire);
}

TEST(FieldTable, BoolDecodesAnyNonZeroOctetAsTrue) {
  const Bytes wire = {0, 0, 0, 4, 1, 'b', 't', 7};
  Result<FieldTable> decoded = decode(wire);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(table_bool(*decoded, "b"), true);
}

TEST(FieldTable, EveryTruncationFailsCleanly) {
  const Bytes wire = encode(every_type());
  for (std::size_t size = 0; size < wire.size(); ++size) {
    Result<FieldTable> r = decode(ByteSpan(wire.data(), size));
    ASSERT_FALSE(r.ok()) << "cut to " << size;
    EXPECT_EQ(r.error().code, make_error_code(ReplyCode::FrameError));
  }
}

// Cutting the body but fixing the outer length moves the truncation inside nested values.
TEST(FieldTable, EveryInnerTruncationFailsOrDecodesCleanly) {
  const Bytes wire = encode(every_type());
  for (std::size_t size = 4; size < wire.size(); ++size) {
    Bytes cut(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(size));
    ByteWriter(cut).patch_u32(0, static_cast<std::uint32_t>(size - 4));
    Result<FieldTable> r = decode(cut);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, make_error_code(ReplyCode::FrameError)) << size;
    }
  }
}

TEST(FieldTable, RefusesDeclaredLengthsBeyondTheInput) {
  expect_error(decode(Bytes{0xff, 0xff, 0xff, 0xff}), ReplyCode::FrameError,
               "field table length 4294967295 exceeds the 0 bytes remaining");
  // A long string inside claims 4 GiB.
  expect_error(decode(Bytes{0, 0, 0, 7, 1, 's', 'S', 0xff, 0xff, 0xff, 0xff}),
               ReplyCode::FrameError, "truncated long string value");
  expect_error(decode(Bytes{0, 0, 0, 7, 1, 'x', 'x', 0x80, 0, 0, 0}), ReplyCode::FrameError,
               "truncated byte array value");
  expect_error(decode(Bytes{0, 0, 0, 7, 1, 'a', 'A', 0x7f, 0xff, 0xff, 0xff}),
               ReplyCode::FrameError, "field array length 2147483647 exceeds");
  // A key whose length runs past the table.
  expect_error(decode(Bytes{0, 0, 0, 2, 200, 'k'}), ReplyCode::FrameError,
               "truncated field table key");
}

TEST(FieldTable, RefusesUnknownTypeTag) {
  expect_error(decode(Bytes{0, 0, 0, 3, 1, 'k', 'Z'}), ReplyCode::SyntaxError,
               "unknown field type 'Z' in table");
  expect_error(decode(Bytes{0, 0, 0, 8, 1, 'k', 'A', 0, 0, 0, 1, 0x01}), ReplyCode::SyntaxError,
               "unknown field type 0x01 in array");
}

FieldTable nested_tables(int levels) {
  FieldTable t;
  for (int i = 0; i < levels; ++i) t = FieldTable{{"n", std::move(t)}};
  return t;
}

TEST(FieldTable, AcceptsNestingUpToTheLimit) {
  const FieldTable deep = nested_tables(kMaxFieldDepth);
  Result<FieldTable> decoded = decode(encode(deep));
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  EXPECT_EQ(*decoded, deep);
}

TEST(FieldTable, RefusesNestingBeyondTheLimit) {
  expect_error(decode(encode(nested_tables(kMaxFieldDepth + 1))), ReplyCode::SyntaxError,
               "nested deeper than 64");
}

// 100000 nested arrays in 500 KB: must be refused without deep recursion.
TEST(FieldTable, RefusesDepthBomb) {
  constexpr std::uint32_t kLevels = 100000;
  Bytes wire;
  ByteWriter w(wire);
  w.u32(2 + 5 * kLevels);
  w.u8(1);
  w.u8('k');
  for (std::uint32_t i = 0; i < kLevels; ++i) {
    w.u8('A');
    w.u32(5 * (kLevels - 1 - i));
  }
  expect_error(decode(wire), ReplyCode::SyntaxError, "nested deeper than 64");
}

TEST(FieldValue, DecodesASingleTaggedValue) {
  const Bytes wire = {'s', 0xff, 0xfe};
  ByteReader in(wire);
  FieldValue v;
  ASSERT_TRUE(decode_field_value(in, v).ok());
  EXPECT_EQ(v, FieldValue(std::int16_t{-2}));
  EXPECT_TRUE(in.empty());
}

TEST(FieldArray, RoundTripsMixedValues) {
  const FieldArray array = {std::int8_t{-1}, "s"s, ByteArray{"b"}, Timestamp{5}, Void{}, 2.5};
  Bytes wire;
  ByteWriter w(wire);
  encode_array(w, array);
  ByteReader in(wire);
  FieldArray decoded;
  ASSERT_TRUE(decode_array(in, decoded).ok());
  EXPECT_EQ(decoded, array);
}

TEST(FieldTable, LookupsFindTheFirstMatch) {
  const FieldTable t = {{"flag", true},
                        {"n8", std::uint8_t{200}},
                        {"n64", std::int64_t{-9}},
                        {"u32", std::uint32_t{4000000000u}},
                        {"s", "text"s},
                        {"x", ByteArray{"raw"}},
                        {"flag", false}};
  EXPECT_EQ(table_bool(t, "flag"), true);
  EXPECT_EQ(table_bool(t, "n8"), std::nullopt);
  EXPECT_EQ(table_int(t, "n8"), 200);
  EXPECT_EQ(table_int(t, "n64"), -9);
  EXPECT_EQ(table_int(t, "u32"), 4000000000);
  EXPECT_EQ(table_int(t, "flag"), std::nullopt);
  EXPECT_EQ(table_string(t, "s"), "text");
  EXPECT_EQ(table_string(t, "x"), "raw");
  EXPECT_EQ(table_string(t, "n8"), std::nullopt);
  EXPECT_EQ(table_find(t, "missing"), nullptr);
}

TEST(AmqpString, DecodeLeavesTheReaderInPlaceOnFailure) {
  std::string s;
  const Bytes long_wire = {0, 0, 0, 9, 'a', 'b'};
  ByteReader long_in(long_wire);
  EXPECT_FALSE(decode_longstr(long_in, s));
  EXPECT_EQ(long_in.position(), 0u);

  const Bytes short_wire = {5, 'a'};
  ByteReader short_in(short_wire);
  EXPECT_FALSE(decode_shortstr(short_in, s));
  EXPECT_EQ(short_in.position(), 0u);
}

TEST(AmqpString, ShortstrLongerThan255IsCutInReleaseAndAssertsInDebug) {
  const std::string long_name(300, 'q');
  Bytes out;
  ByteWriter w(out);
  EXPECT_DEBUG_DEATH(encode_shortstr(w, long_name), "shortstr longer than 255");
#ifdef NDEBUG
  ASSERT_EQ(out.size(), 256u);
  EXPECT_EQ(out[0], 255);
#endif
}

}  // namespace
}  // namespace sluice::amqp
