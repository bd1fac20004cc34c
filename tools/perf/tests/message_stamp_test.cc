#include "tools/perf/message_stamp.h"

#include <gtest/gtest.h>

#include <array>

namespace sluice::perf {
namespace {

TEST(MessageStamp, RoundTripsBigEndian) {
  std::array<std::uint8_t, kStampSize> buf{};
  write_stamp(buf.data(), MessageStamp{0x0102030405060708, 0x0A0B0C0D, 0xFFFFFFFF});
  EXPECT_EQ(buf[0], 0x01);
  EXPECT_EQ(buf[7], 0x08);
  EXPECT_EQ(buf[8], 0x0A);
  EXPECT_EQ(buf[15], 0xFF);
  const MessageStamp back = read_stamp(buf.data());
  EXPECT_EQ(back.send_ns, 0x0102030405060708u);
  EXPECT_EQ(back.publisher_id, 0x0A0B0C0Du);
  EXPECT_EQ(back.sequence, 0xFFFFFFFFu);
}

}  // namespace
}  // namespace sluice::perf
