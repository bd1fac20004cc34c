#pragma once

// AMQP 0-9-1 frames: type (1 octet), channel (2), payload size (4), payload, end octet 0xCE.
//
// parse_frame() works on whatever bytes have arrived so far. It never reads past the buffer,
// checks the declared size against frame_max before waiting for the payload (so a hostile
// length cannot make us buffer gigabytes), and checks the end octet.

#include <cstddef>
#include <cstdint>

#include "amqp/methods.h"
#include "amqp/properties.h"
#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp {

enum class FrameType : std::uint8_t { Method = 1, Header = 2, Body = 3, Heartbeat = 8 };

inline constexpr std::uint8_t kFrameEnd = 0xCE;
inline constexpr std::size_t kFrameHeaderSize = 7;
// Header plus end octet: what a frame costs beyond its payload.
inline constexpr std::size_t kFrameOverhead = kFrameHeaderSize + 1;
// The smallest frame-max a peer may negotiate, and the limit before tuning is done.
inline constexpr std::uint32_t kFrameMinSize = 4096;

struct Frame {
  FrameType type = FrameType::Heartbeat;
  std::uint16_t channel = 0;
  ByteSpan payload;  // view into the parser's input
};

struct FrameParse {
  enum class Status { NeedMore, Complete, Failed };
  Status status = Status::NeedMore;
  Frame frame;                // valid when Complete
  std::size_t consumed = 0;   // bytes of input the frame used, when Complete
  Error error;                // FRAME_ERROR with a detail, when Failed
};

// frame_max is the largest whole frame (header, payload and end octet) we accept; 0 means the
// negotiated "no limit", which we still cap at 2^32 - 1.
FrameParse parse_frame(ByteSpan input, std::uint32_t frame_max);

// Appends a complete frame with the given payload.
void append_frame(Bytes& out, FrameType type, std::uint16_t channel, ByteSpan payload);

// Appends a heartbeat frame (type 8, channel 0, empty payload).
void append_heartbeat(Bytes& out);

// Starts a frame whose payload the caller then appends to `out`; returns the offset to hand to
// end_frame(), which patches the payload size and appends the end octet.
std::size_t begin_frame(Bytes& out, FrameType type, std::uint16_t channel);
void end_frame(Bytes& out, std::size_t frame_start);

// Appends a method frame. Works for any generated method struct and for the Method variant;
// the template avoids copying a struct into a variant.
void append_method_frame(Bytes& out, std::uint16_t channel, const Method& method);
template <MethodStruct M>
void append_method_frame(Bytes& out, std::uint16_t channel, const M& method) {
  const std::size_t start = begin_frame(out, FrameType::Method, channel);
  ByteWriter writer(out);
  encode_method(writer, method);
  end_frame(out, start);
}

// Appends a content header frame followed by body frames, each no larger than frame_max
// (frame_max 0 means no limit). An empty body produces no body frame.
// REQUIRES: header.body_size == body.size(), and frame_max is 0 or more than kFrameOverhead.
void append_content(Bytes& out, std::uint16_t channel, const ContentHeader& header,
                    ByteSpan body, std::uint32_t frame_max);

}  // namespace sluice::amqp
