#include "amqp/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

using Status = FrameParse::Status;

const Bytes kHeartbeat = {8, 0, 0, 0, 0, 0, 0, 0xce};

void expect_failure(const FrameParse& p, std::string_view detail) {
  ASSERT_EQ(p.status, Status::Failed);
  EXPECT_EQ(p.error.code, make_error_code(ReplyCode::FrameError));
  EXPECT_EQ(p.error.detail, detail);
}

// Feeds `stream` one byte at a time, as a socket might, and returns the frames parsed.
std::vector<Bytes> parse_byte_by_byte(const Bytes& stream, std::uint32_t frame_max) {
  std::vector<Bytes> frames;
  Bytes buffer;
  for (std::uint8_t b : stream) {
    buffer.push_back(b);
    FrameParse p = parse_frame(buffer, frame_max);
    EXPECT_NE(p.status, Status::Failed) << p.error.detail;
    if (p.status != Status::Complete) continue;
    Bytes frame(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(p.consumed));
    EXPECT_EQ(p.frame.payload.size() + kFrameOverhead, p.consumed);
    frames.push_back(std::move(frame));
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(p.consumed));
  }
  EXPECT_TRUE(buffer.empty());
  return frames;
}

TEST(FrameParser, ParsesHeartbeat) {
  Bytes out;
  append_heartbeat(out);
  EXPECT_EQ(out, kHeartbeat);
  FrameParse p = parse_frame(out, kFrameMinSize);
  ASSERT_EQ(p.status, Status::Complete);
  EXPECT_EQ(p.frame.type, FrameType::Heartbeat);
  EXPECT_EQ(p.frame.channel, 0);
  EXPECT_TRUE(p.frame.payload.empty());
  EXPECT_EQ(p.consumed, 8u);
}

TEST(FrameParser, NeedsMoreUntilTheWholeFrameArrives) {
  Bytes out;
  append_method_frame(out, 3, method::ChannelOpen{});
  for (std::size_t size = 0; size < out.size(); ++size) {
    EXPECT_EQ(parse_frame(ByteSpan(out.data(), size), kFrameMinSize).status, Status::NeedMore)
        << size;
  }
  FrameParse p = parse_frame(out, kFrameMinSize);
  ASSERT_EQ(p.status, Status::Complete);
  EXPECT_EQ(p.frame.channel, 3);
  EXPECT_EQ(p.consumed, out.size());
}

TEST(FrameParser, SplitsJoinedFramesFedOneByteAtATime) {
  Bytes stream;
  append_method_frame(stream, 1, method::BasicAck{7, true});
  append_heartbeat(stream);
  ContentHeader header;
  header.body_size = 5000;
  const Bytes body(5000, 'b');
  append_content(stream, 1, header, body, kFrameMinSize);
  append_method_frame(stream, 2, method::ChannelClose{200, "bye", 0, 0});

  const std::vector<Bytes> frames = parse_byte_by_byte(stream, kFrameMinSize);
  ASSERT_EQ(frames.size(), 6u);  // ack, heartbeat, header, two body frames, close
  EXPECT_EQ(frames[0][0], 1);
  EXPECT_EQ(frames[1], kHeartbeat);
  EXPECT_EQ(frames[2][0], 2);
  EXPECT_EQ(frames[3].size(), kFrameMinSize);
  EXPECT_EQ(frames[4].size(), 5000 - (kFrameMinSize - kFrameOverhead) + kFrameOverhead);
  EXPECT_EQ(frames[5][2], 2);  // channel 2, low byte
}

TEST(FrameParser, ReturnsTheFirstFrameOfSeveral) {
  Bytes stream;
  append_heartbeat(stream);
  append_heartbeat(stream);
  FrameParse p = parse_frame(stream, 0);
  ASSERT_EQ(p.status, Status::Complete);
  EXPECT_EQ(p.consumed, 8u);
}

TEST(FrameParser, RefusesBadEndMarker) {
  Bytes frame = kHeartbeat;
  frame.back() = 0x00;
  expect_failure(parse_frame(frame, kFrameMinSize), "frame end marker 0x00 is not 0xCE");
}

TEST(FrameParser, RefusesUnknownTypeFromTheHeaderAlone) {
  const Bytes header = {4, 0, 0, 0, 0, 0, 0};
  expect_failure(parse_frame(header, kFrameMinSize), "unknown frame type 4");
  const Bytes amqp_header = {'A', 'M', 'Q', 'P', 0, 0, 9};
  expect_failure(parse_frame(amqp_header, kFrameMinSize), "unknown frame type 65");
}

TEST(FrameParser, RefusesOversizedFrameBeforePayloadArrives) {
  // Only the 7-byte header of a frame declaring 200000 payload bytes.
  const Bytes header = {3, 0, 1, 0x00, 0x03, 0x0d, 0x40};
  expect_failure(parse_frame(header, 131072),
                 "frame of 200008 bytes (payload 200000) exceeds frame-max 131072");
}

TEST(FrameParser, AcceptsAFrameOfExactlyFrameMax) {
  const Bytes payload(kFrameMinSize - kFrameOverhead, 'p');
  Bytes frame;
  append_frame(frame, FrameType::Body, 1, payload);
  ASSERT_EQ(frame.size(), kFrameMinSize);
  EXPECT_EQ(parse_frame(frame, kFrameMinSize).status, Status::Complete);
  frame.insert(frame.begin() + 7, 'p');
  ByteWriter(frame).patch_u32(3, kFrameMinSize - kFrameOverhead + 1);
  expect_failure(parse_frame(frame, kFrameMinSize),
                 "frame of 4097 bytes (payload 4089) exceeds frame-max 4096");
}

TEST(FrameParser, ZeroFrameMaxStillCapsAtTheSizeField) {
  const Bytes near_limit = {3, 0, 1, 0xff, 0xff, 0xff, 0xf7};
  EXPECT_EQ(parse_frame(near_limit, 0).status, Status::NeedMore);
  const Bytes over_limit = {3, 0, 1, 0xff, 0xff, 0xff, 0xf8};
  EXPECT_EQ(parse_frame(over_limit, 0).status, Status::Failed);
}

TEST(FrameWriter, AppendsMethodFrameBytes) {
  Bytes out;
  append_method_frame(out, 1, method::ChannelOpen{});
  // type 1, channel 1, size 5: class 20, method 10, empty out-of-band shortstr.
  const Bytes expected = {1, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xce};
  EXPECT_EQ(out, expected);
}

TEST(FrameWriter, StructAndVariantMethodFramesMatch) {
  method::QueueDeclare declare;
  declare.queue = "orders";
  declare.durable = true;
  Bytes direct;
  append_method_frame(direct, 9, declare);
  Bytes via_variant;
  append_method_frame(via_variant, 9, Method{declare});
  EXPECT_EQ(direct, via_variant);
}

TEST(FrameWriter, SplitsBodyIntoFramesOfAtMostFrameMax) {
  ContentHeader header;
  header.body_size = 10000;
  Bytes body(10000);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(i);
  Bytes out;
  append_content(out, 5, header, body, kFrameMinSize);

  std::vector<std::size_t> sizes;
  Bytes joined;
  ByteSpan rest(out);
  while (!rest.empty()) {
    FrameParse p = parse_frame(rest, kFrameMinSize);
    ASSERT_EQ(p.status, Status::Complete);
    EXPECT_EQ(p.frame.channel, 5);
    if (p.frame.type == FrameType::Body) {
      sizes.push_back(p.frame.payload.size());
      joined.insert(joined.end(), p.frame.payload.begin(), p.frame.payload.end());
    }
    rest = rest.subspan(p.consumed);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{4088, 4088, 1824}));
  EXPECT_EQ(joined, body);
}

TEST(FrameWriter, EmptyBodyHasNoBodyFrame) {
  Bytes out;
  append_content(out, 1, ContentHeader{}, {}, kFrameMinSize);
  FrameParse p = parse_frame(out, kFrameMinSize);
  ASSERT_EQ(p.status, Status::Complete);
  EXPECT_EQ(p.frame.type, FrameType::Header);
  EXPECT_EQ(p.consumed, out.size());
}

TEST(FrameWriter, NoFrameMaxSendsTheBodyInOneFrame) {
  ContentHeader header;
  header.body_size = 100000;
  const Bytes body(100000, 'z');
  Bytes out;
  append_content(out, 1, header, body, 0);
  FrameParse first = parse_frame(out, 0);
  ASSERT_EQ(first.status, Status::Complete);
  FrameParse second = parse_frame(ByteSpan(out).subspan(first.consumed), 0);
  ASSERT_EQ(second.status, Status::Complete);
  EXPECT_EQ(second.frame.payload.size(), body.size());
  EXPECT_EQ(first.consumed + second.consumed, out.size());
}

}  // namespace
}  // namespace sluice::amqp
