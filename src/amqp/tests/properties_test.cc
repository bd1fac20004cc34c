#include "amqp/properties.h"

#include <gtest/gtest.h>

#include <string>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

using namespace std::string_literals;

Bytes encode(const ContentHeader& h) {
  Bytes out;
  ByteWriter w(out);
  encode_content_header(w, h);
  return out;
}

ContentHeader with_every_property() {
  ContentHeader h;
  h.body_size = 0x0102030405060708ULL;
  BasicProperties& p = h.properties;
  p.content_type = "application/json";
  p.content_encoding = "gzip";
  p.headers = FieldTable{{"x-retry", std::int32_t{3}}, {"trace", FieldTable{{"id", "abc"s}}}};
  p.delivery_mode = 2;
  p.priority = 9;
  p.correlation_id = "corr-1";
  p.reply_to = "amq.rabbitmq.reply-to";
  p.expiration = "60000";
  p.message_id = "msg-1";
  p.timestamp = 1700000000;
  p.type = "order.created";
  p.user_id = "guest";
  p.app_id = "shop";
  p.cluster_id = "c1";
  return h;
}

void expect_frame_error(const Result<ContentHeader>& r, std::string_view detail) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(ReplyCode::FrameError));
  EXPECT_NE(r.error().detail.find(detail), std::string::npos) << r.error().detail;
}

TEST(ContentHeader, RoundTripsAllFourteenProperties) {
  const ContentHeader h = with_every_property();
  const Bytes wire = encode(h);
  // Every property flag set: bits 15..2.
  EXPECT_EQ(wire[12], 0xff);
  EXPECT_EQ(wire[13], 0xfc);
  Result<ContentHeader> decoded = decode_content_header(wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  EXPECT_EQ(*decoded, h);
  EXPECT_EQ(encode(*decoded), wire);
}

TEST(ContentHeader, EncodesNoPropertiesAsZeroFlags) {
  ContentHeader h;
  h.body_size = 5;
  const Bytes expected = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0};
  EXPECT_EQ(encode(h), expected);
  Result<ContentHeader> decoded = decode_content_header(expected);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, h);
}

TEST(ContentHeader, FlagBitsFollowSpecOrder) {
  ContentHeader h;
  h.properties.delivery_mode = 2;  // fourth property: bit 12
  h.properties.app_id = "a";       // thirteenth: bit 3
  const Bytes expected = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x08, 2, 1, 'a'};
  EXPECT_EQ(encode(h), expected);
}

TEST(ContentHeader, SkipsContinuationFlagWords) {
  // Flags 0x8001 (content-type, more flags follow), then 0x0000, then content-type.
  const Bytes wire = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x01, 0, 0, 1, 't'};
  Result<ContentHeader> decoded = decode_content_header(wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().detail;
  EXPECT_EQ(decoded->properties.content_type, "t");
}

TEST(ContentHeader, EveryTruncationFails) {
  const Bytes wire = encode(with_every_property());
  for (std::size_t size = 0; size < wire.size(); ++size) {
    Result<ContentHeader> r = decode_content_header(ByteSpan(wire.data(), size));
    ASSERT_FALSE(r.ok()) << "cut to " << size;
    EXPECT_EQ(r.error().code, make_error_code(ReplyCode::FrameError)) << r.error().detail;
  }
}

TEST(ContentHeader, RefusesTrailingBytes) {
  Bytes wire = encode(ContentHeader{});
  wire.push_back(0);
  expect_frame_error(decode_content_header(wire), "1 trailing bytes");
}

TEST(ContentHeader, RefusesAClassWithoutContent) {
  ContentHeader h;
  h.class_id = 50;
  expect_frame_error(decode_content_header(encode(h)), "class 50, which has no content");
}

TEST(ContentHeader, NamesTheTruncatedProperty) {
  // reply-to flagged (bit 9) but its shortstr runs past the end.
  const Bytes wire = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 9, 'x'};
  expect_frame_error(decode_content_header(wire), "truncated property 'reply-to'");
}

TEST(ContentHeader, BadHeadersTableKeepsTheTableError) {
  const Bytes wire = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x00, 0, 0, 0, 3, 1, 'k', 'Z'};
  Result<ContentHeader> r = decode_content_header(wire);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(ReplyCode::SyntaxError));
  EXPECT_EQ(r.error().detail,
            "content header: property 'headers': unknown field type 'Z' in table");
}

}  // namespace
}  // namespace sluice::amqp
