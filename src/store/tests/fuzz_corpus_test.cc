// Replays the committed seeds of the segment fuzzer through the fuzz target, which aborts on
// a failed check; a finding of the fuzzer belongs here too, as a named regression input.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "store/log_format.h"
#include "store/mem_file.h"
#include "store/message_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace sluice::store {
namespace {

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(SegmentFuzzCorpus, EverySeedRecoversWholeAndPassesTheFuzzChecks) {
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SLUICE_SEGMENT_CORPUS_DIR)) {
    const Bytes data = read_file(entry.path());
    LLVMFuzzerTestOneInput(data.data(), data.size());
    ++seeds;
    if (entry.path().extension() == ".framed") continue;  // the harness frames those

    // The others are record streams as the log writes them: recovery keeps every byte.
    auto fs = std::make_shared<MemFs>();
    Bytes segment;
    log_format::encode_header(1, segment);
    segment.insert(segment.end(), data.begin(), data.end());
    fs->put(log_format::segment_file_name(1), segment);
    MessageLog log(MessageLogOptions{});
    auto r = log.open(std::make_unique<MemDirectory>(fs));
    ASSERT_TRUE(r.ok()) << entry.path();
    EXPECT_EQ(r->stats.bytes_dropped, 0u) << entry.path();
    ASSERT_TRUE(log.close().ok());
  }
  EXPECT_GE(seeds, 8);
}

}  // namespace
}  // namespace sluice::store
