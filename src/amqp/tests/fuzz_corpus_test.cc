// Replays the committed fuzz seeds through the fuzz target; the target aborts on a failed
// check, which fails the test. An input the fuzzer finds belongs here too, as a named
// regression test that feeds it to LLVMFuzzerTestOneInput.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "amqp/properties.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace sluice::amqp {
namespace {

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Seeds are valid streams: every frame parses, and every method and header decodes.
void expect_valid_stream(const Bytes& stream, const std::string& name) {
  ByteSpan rest(stream);
  while (!rest.empty()) {
    FrameParse p = parse_frame(rest, 131072);
    ASSERT_EQ(p.status, FrameParse::Status::Complete) << name << ": " << p.error.detail;
    if (p.frame.type == FrameType::Method) {
      Result<Method> m = decode_method(p.frame.payload);
      EXPECT_TRUE(m.ok()) << name << ": " << m.error().detail;
    } else if (p.frame.type == FrameType::Header) {
      Result<ContentHeader> h = decode_content_header(p.frame.payload);
      EXPECT_TRUE(h.ok()) << name << ": " << h.error().detail;
    }
    rest = rest.subspan(p.consumed);
  }
}

TEST(FuzzCorpus, EverySeedIsValidAndPassesTheFuzzChecks) {
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SLUICE_FUZZ_CORPUS_DIR)) {
    const Bytes data = read_file(entry.path());
    expect_valid_stream(data, entry.path().filename().string());
    LLVMFuzzerTestOneInput(data.data(), data.size());
    ++seeds;
  }
  EXPECT_GE(seeds, 20);
}

}  // namespace
}  // namespace sluice::amqp
