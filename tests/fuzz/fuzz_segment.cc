// libFuzzer target for the message log's on-disk format: recovery and reading back.
//
// The input is one of, by its first byte:
//   0xFF  the whole segment file, header included;
//   0xFE  records to frame: (type u8, length u16, payload) each, given a valid length and
//         checksum by the harness, so the fuzzer reaches the payload decoders and recovery's
//         bookkeeping instead of stopping at a checksum;
//   else  the records after a valid header for segment 1, as the log writes them.
// The log is opened over it in memory, as at a restart: recovery must neither crash nor hand
// out a message it did not find whole, every message it hands out must read back, and the
// log must then take appends and close.
//
// The unit tests link this file too and replay the committed corpus through it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "store/log_format.h"
#include "store/logger.h"
#include "store/mem_file.h"
#include "store/message_log.h"
#include "store/page_reader.h"

namespace sluice::store {
namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_segment: %s\n", what);
  std::abort();
}

// Frames (type, length u16, payload) chunks as records with the right length and checksum.
void frame_records(ByteSpan in, Bytes& out) {
  ByteReader r(in);
  std::uint8_t type = 0;
  std::uint16_t n = 0;
  ByteSpan payload;
  while (r.read_u8(type) && r.read_u16(n) &&
         r.read_span(std::min<std::size_t>(n, r.remaining()), payload)) {
    const std::size_t start = out.size();
    ByteWriter w(out);
    w.u32(static_cast<std::uint32_t>(payload.size()));
    w.u32(0);
    w.u8(type);
    w.bytes(payload);
    w.patch_u32(start + 4, log_format::checksum(ByteSpan(out).subspan(start + 8)));
  }
}

void run(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(data, size);
  Bytes segment;
  if (size > 0 && data[0] == 0xFF) {
    segment.assign(data + 1, data + size);
  } else {
    log_format::encode_header(1, segment);
    if (size > 0 && data[0] == 0xFE) {
      frame_records(input.subspan(1), segment);
    } else {
      segment.insert(segment.end(), data, data + size);
    }
  }
  auto fs = std::make_shared<MemFs>();
  fs->put(log_format::segment_file_name(1), segment);

  MessageLog log(MessageLogOptions{.segment_size = 1 << 20, .recovery_progress_bytes = 0});
  auto recovered = log.open(std::make_unique<MemDirectory>(fs));
  if (!recovered) return;  // an I/O error of the memory file system: nothing to check

  PageReader reader(log, 512);
  for (const auto& [queue, q] : recovered->queues) {
    std::uint64_t count = 0;
    for (const OffsetRun& run : q.runs) {
      for (std::uint32_t offset : run.offsets) {
        auto back = reader.read(run.segment, offset);
        // Recovery checked every record it kept: each must read back, as a queue's message.
        if (!back) fail("a recovered message does not read back");
        if (back->paged_copy) fail("recovery handed out a paged copy");
        ++count;
      }
    }
    if (count != q.messages) fail("message count does not match the runs");
  }
  const Bytes body(100, 'b');
  const QueueId queues[] = {7};
  auto appended = log.append_message(
      MessageRecord{.id = recovered->max_message_id + 1, .queues = queues, .body = body});
  if (!appended) fail("the recovered log refuses an append");
  if (!log.close()) fail("the recovered log does not close");
}

}  // namespace
}  // namespace sluice::store

// libFuzzer only (the unit tests keep their logs): recovery logs every truncation it makes.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  sluice::store::logger()->set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sluice::store::run(data, size);
  return 0;
}
