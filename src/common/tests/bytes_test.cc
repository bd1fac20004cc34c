#include "common/bytes.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(ByteWriter, WritesBigEndian) {
  Bytes out;
  ByteWriter w(out);
  w.u8(0x01);
  w.u16(0x0203);
  w.u32(0x04050607);
  w.u64(0x08090a0b0c0d0e0fULL);
  const Bytes expected = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  EXPECT_EQ(out, expected);
}

TEST(ByteReader, ReadsWhatWriterWrote) {
  Bytes out;
  ByteWriter w(out);
  w.u16(0xbeef);
  w.u64(0x0123456789abcdefULL);
  w.bytes(std::string_view("hey"));
  ByteReader r(out);
  std::uint16_t a = 0;
  std::uint64_t b = 0;
  std::string s;
  ASSERT_TRUE(r.read_u16(a));
  ASSERT_TRUE(r.read_u64(b));
  ASSERT_TRUE(r.read_string(3, s));
  EXPECT_EQ(a, 0xbeef);
  EXPECT_EQ(b, 0x0123456789abcdefULL);
  EXPECT_EQ(s, "hey");
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, RefusesToReadPastTheEndAndStaysPut) {
  const Bytes data = {1, 2, 3};
  ByteReader r(data);
  std::uint32_t v = 7;
  EXPECT_FALSE(r.read_u32(v));
  EXPECT_EQ(v, 7u);
  EXPECT_EQ(r.position(), 0u);
  ByteSpan s;
  EXPECT_FALSE(r.read_span(4, s));
  EXPECT_TRUE(r.read_span(3, s));
  EXPECT_EQ(s.size(), 3u);
}

TEST(ByteWriter, PatchesALengthWrittenEarlier) {
  Bytes out;
  ByteWriter w(out);
  w.u32(0);
  w.u8(9);
  w.patch_u32(0, 0x11223344);
  const Bytes expected = {0x11, 0x22, 0x33, 0x44, 9};
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace sluice
