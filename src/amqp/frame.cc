#include "amqp/frame.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <limits>

#include "amqp/reply_code.h"

namespace sluice::amqp {
namespace {

// frame_max 0 is the negotiated "no limit"; the 32-bit size field still bounds a frame.
constexpr std::uint64_t kUnlimitedFrameMax = std::numeric_limits<std::uint32_t>::max();

std::uint64_t effective_frame_max(std::uint32_t frame_max) {
  return frame_max == 0 ? kUnlimitedFrameMax : frame_max;
}

bool is_known_type(std::uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::Method:
    case FrameType::Header:
    case FrameType::Body:
    case FrameType::Heartbeat:
      return true;
  }
  return false;
}

FrameParse failed(std::string detail) {
  FrameParse p;
  p.status = FrameParse::Status::Failed;
  p.error = amqp_error(ReplyCode::FrameError, std::move(detail));
  return p;
}

}  // namespace

FrameParse parse_frame(ByteSpan input, std::uint32_t frame_max) {
  // Read the header and judge it before waiting for the payload, so a hostile size is refused
  // instead of making us buffer it.
  ByteReader in(input);
  std::uint8_t type = 0;
  std::uint16_t channel = 0;
  std::uint32_t size = 0;
  if (!in.read_u8(type) || !in.read_u16(channel) || !in.read_u32(size)) return {};
  if (!is_known_type(type)) return failed(fmt::format("unknown frame type {}", type));
  const std::uint64_t limit = effective_frame_max(frame_max);
  if (std::uint64_t{size} + kFrameOverhead > limit) {
    return failed(fmt::format("frame of {} bytes (payload {}) exceeds frame-max {}",
                              std::uint64_t{size} + kFrameOverhead, size, limit));
  }

  ByteSpan payload;
  std::uint8_t end = 0;
  if (!in.read_span(size, payload) || !in.read_u8(end)) return {};
  if (end != kFrameEnd) {
    return failed(fmt::format("frame end marker 0x{:02X} is not 0xCE", end));
  }

  FrameParse p;
  p.status = FrameParse::Status::Complete;
  p.frame = Frame{static_cast<FrameType>(type), channel, payload};
  p.consumed = in.position();
  return p;
}

std::size_t begin_frame(Bytes& out, FrameType type, std::uint16_t channel) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  w.u8(static_cast<std::uint8_t>(type));
  w.u16(channel);
  w.u32(0);  // payload size, patched by end_frame()
  return start;
}

void end_frame(Bytes& out, std::size_t frame_start) {
  const std::size_t payload_size = out.size() - frame_start - kFrameHeaderSize;
  assert(payload_size + kFrameOverhead <= kUnlimitedFrameMax);
  ByteWriter w(out);
  w.patch_u32(frame_start + 3, static_cast<std::uint32_t>(payload_size));
  w.u8(kFrameEnd);
}

void append_frame(Bytes& out, FrameType type, std::uint16_t channel, ByteSpan payload) {
  const std::size_t start = begin_frame(out, type, channel);
  ByteWriter(out).bytes(payload);
  end_frame(out, start);
}

void append_heartbeat(Bytes& out) { append_frame(out, FrameType::Heartbeat, 0, {}); }

void append_method_frame(Bytes& out, std::uint16_t channel, const Method& method) {
  const std::size_t start = begin_frame(out, FrameType::Method, channel);
  ByteWriter writer(out);
  encode_method(writer, method);
  end_frame(out, start);
}

void append_content(Bytes& out, std::uint16_t channel, const ContentHeader& header, ByteSpan body,
                    std::uint32_t frame_max) {
  assert(header.body_size == body.size());
  assert(frame_max == 0 || frame_max > kFrameOverhead);

  const std::size_t start = begin_frame(out, FrameType::Header, channel);
  ByteWriter writer(out);
  encode_content_header(writer, header);
  end_frame(out, start);

  const std::uint64_t max_payload = effective_frame_max(frame_max) - kFrameOverhead;
  while (!body.empty()) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(body.size(), max_payload));
    append_frame(out, FrameType::Body, channel, body.first(n));
    body = body.subspan(n);
  }
}

}  // namespace sluice::amqp
