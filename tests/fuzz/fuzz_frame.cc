// libFuzzer target for the AMQP frame, method and content header decoders.
//
// The input is a byte stream as a client would send it after the protocol header. Frames are
// parsed in a loop; method and header payloads are decoded, and whatever decodes is encoded,
// decoded and encoded again: the two encodings must be identical byte for byte. Bytes are
// compared, not structs, because a NaN in a field table never equals itself.
//
// The unit tests link this file too and replay the committed corpus through it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "amqp/properties.h"

namespace sluice::amqp {
namespace {

constexpr std::uint32_t kFuzzFrameMax = 131072;
// Small enough that bodies taken from the input split into several frames.
constexpr std::uint32_t kSplitFrameMax = 4096;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_frame: %s\n", what);
  std::abort();
}

void encode(ByteWriter& out, const Method& m) { encode_method(out, m); }
void encode(ByteWriter& out, const ContentHeader& h) { encode_content_header(out, h); }

// Encodes a decoded value, decodes that again and checks that encoding is stable.
template <class T, class Decode>
void check_stable(const T& first, Decode decode, const char* what) {
  Bytes once;
  ByteWriter w1(once);
  encode(w1, first);
  auto again = decode(ByteSpan(once));
  if (!again.ok()) fail(what);
  Bytes twice;
  ByteWriter w2(twice);
  encode(w2, *again);
  if (once != twice) fail(what);
}

// Frames must re-serialise to exactly the bytes they were parsed from.
void check_frame_bytes(const Frame& frame, ByteSpan raw) {
  Bytes out;
  append_frame(out, frame.type, frame.channel, frame.payload);
  if (!std::equal(out.begin(), out.end(), raw.begin(), raw.end())) fail("frame re-encoding");
}

// Splits the header frame's own payload as a body and checks the frames carry it intact.
void check_content_split(ContentHeader header, ByteSpan body) {
  header.body_size = body.size();
  Bytes out;
  append_content(out, 1, header, body, kSplitFrameMax);
  ByteSpan rest(out);
  Bytes joined;
  bool first = true;
  while (!rest.empty()) {
    FrameParse p = parse_frame(rest, kSplitFrameMax);
    if (p.status != FrameParse::Status::Complete) fail("content split: unparsable frame");
    if (!first) joined.insert(joined.end(), p.frame.payload.begin(), p.frame.payload.end());
    first = false;
    rest = rest.subspan(p.consumed);
  }
  if (!std::equal(joined.begin(), joined.end(), body.begin(), body.end())) {
    fail("content split: body changed");
  }
}

void check_frame(const Frame& frame) {
  if (frame.type == FrameType::Method) {
    Result<Method> m = decode_method(frame.payload);
    if (m.ok()) check_stable(*m, decode_method, "method re-encoding");
  } else if (frame.type == FrameType::Header) {
    Result<ContentHeader> h = decode_content_header(frame.payload);
    if (!h.ok()) return;
    check_stable(*h, decode_content_header, "content header re-encoding");
    check_content_split(*h, frame.payload);
  }
}

}  // namespace
}  // namespace sluice::amqp

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice::amqp;
  sluice::ByteSpan input(data, size);
  for (;;) {
    FrameParse p = parse_frame(input, kFuzzFrameMax);
    if (p.status != FrameParse::Status::Complete) break;
    check_frame_bytes(p.frame, input.first(p.consumed));
    check_frame(p.frame);
    input = input.subspan(p.consumed);
  }
  return 0;
}
