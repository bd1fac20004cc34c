// Writes the seed corpus of the segment fuzzer: record streams as the message log writes
// them (messages for one and several queues, acks, purges with and without held messages,
// paged copies, a clean stop), without the segment header, which the fuzzer adds.
//
//   ./build-fuzz/bin/fuzz_make_segment_seeds tests/fuzz/corpus/segment

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "store/log_format.h"
#include "store/record.h"

namespace sluice::store {
namespace {

Bytes body(std::size_t n) { return Bytes(n, 'x'); }

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Each seed twice: as written by the log, and in the fuzzer's 0xFE form (type, u16 length,
// payload per record) that the harness frames with valid checksums.
void write(const std::string& dir, const std::string& name, const Bytes& records) {
  write_file(dir + "/" + name, records);
  Bytes structured = {0xFE};
  ByteReader r(records);
  std::uint32_t length = 0;
  std::uint32_t checksum = 0;
  std::uint8_t type = 0;
  ByteSpan payload;
  while (r.read_u32(length) && r.read_u32(checksum) && r.read_u8(type) &&
         r.read_span(length, payload)) {
    ByteWriter w(structured);
    w.u8(type);
    w.u16(static_cast<std::uint16_t>(payload.size()));
    w.bytes(payload);
  }
  write_file(dir + "/" + name + ".framed", structured);
}

MessageRecord message(MessageId id, const std::vector<QueueId>& queues, const Bytes& b) {
  static const Bytes props = {0x80, 0x00, 0x02};
  return MessageRecord{.id = id,
                       .queues = queues,
                       .exchange = "amq.direct",
                       .routing_key = "rk",
                       .properties = props,
                       .body = b};
}

}  // namespace
}  // namespace sluice::store

int main(int argc, char** argv) {
  using namespace sluice::store;
  using sluice::Bytes;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const Bytes small = body(10);
  const Bytes large = body(3000);
  const std::vector<QueueId> one = {1};
  const std::vector<QueueId> two = {1, 2};

  Bytes r;
  encode_message(message(1, one, small), r);
  write(dir, "one-message", r);

  r.clear();
  for (MessageId id = 1; id <= 4; ++id)
    encode_message(message(id, two, id == 3 ? large : small), r);
  encode_ack(AckRecord{2, 1}, r);
  encode_ack(AckRecord{3, 2}, r);
  write(dir, "two-queues-acks", r);

  r.clear();
  for (MessageId id = 1; id <= 3; ++id) encode_message(message(id, one, small), r);
  const std::vector<HeldMessage> held = {{2, 1, 24 + 62}};  // message 2, after 1 (62 bytes)
  encode_purge(1, held, r);
  encode_message(message(4, one, small), r);
  encode_purge(2, {}, r);
  write(dir, "purges", r);

  r.clear();
  encode_paged(MessageRecord{.exchange = "x", .routing_key = "k", .body = small}, r);
  encode_message(message(1, one, small), r);
  encode_paged(MessageRecord{.body = large}, r);
  write(dir, "paged-copies", r);

  r.clear();
  for (MessageId id = 1; id <= 3; ++id) encode_message(message(id, two, small), r);
  encode_delivered(DeliveredRecord{1, 2}, r);
  encode_delivered(DeliveredRecord{2, 3}, r);
  encode_clean_stop(r);
  write(dir, "clean-stop", r);
  return 0;
}
