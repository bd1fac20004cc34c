// Message-log append throughput with group commit, on a real disk.
//
//   cmake --build build-store --target store_append_bench
//   SLUICE_BENCH_DIR=/path/on/disk ./build-store/bin/store_append_bench
//
// BM_AppendGroupCommit appends 1 KiB messages from one thread, as the broker loop would, keeping at
// most `window` of them unconfirmed (not yet durable), as publishers waiting for confirms would.
// Reports appends/s and messages per fdatasync. Window 0 means unbounded. BM_Recover times open()
// of a store of 200k messages (about 200 MiB), half of them acked.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "store/message_log.h"

namespace sluice::store {
namespace {

std::filesystem::path bench_dir() {
  const char* env = std::getenv("SLUICE_BENCH_DIR");
  std::filesystem::path base = env ? env : std::filesystem::current_path();
  return base / "store-append-bench";
}

void BM_AppendGroupCommit(benchmark::State& state) {
  const auto window = static_cast<Lsn>(state.range(0));
  auto dir = bench_dir();
  std::filesystem::remove_all(dir);

  MessageLog log(MessageLogOptions{});
  if (auto r = log.open(dir.string()); !r) {
    state.SkipWithError(r.error().detail.c_str());
    return;
  }
  const std::vector<QueueId> queues = {1};
  const Bytes body(1024, 'x');
  const Bytes properties = {0x80, 0x00, 0x02};
  MessageId id = 0;
  Lsn last = 0;
  for (auto _ : state) {
    ++id;
    auto a = log.append_message(MessageRecord{id, queues, "amq.direct", "bench", properties, body});
    if (!a) {
      state.SkipWithError(a.error().detail.c_str());
      break;
    }
    last = a->lsn;
    while (window != 0 && last - log.durable_lsn() >= window) std::this_thread::yield();
  }
  while (log.durable_lsn() < last) std::this_thread::yield();

  LogStats s = log.stats();
  state.SetItemsProcessed(static_cast<std::int64_t>(s.messages_synced));
  state.SetBytesProcessed(static_cast<std::int64_t>(s.bytes_written));
  state.counters["syncs"] = static_cast<double>(s.syncs);
  state.counters["msgs_per_sync"] = s.messages_per_sync();
  (void)log.close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendGroupCommit)->Arg(1)->Arg(64)->Arg(1024)->Arg(0)->UseRealTime();

// Recovery speed: writes `n` 1 KiB messages, acks every other one, closes, then times open().
void BM_Recover(benchmark::State& state) {
  const auto n = static_cast<MessageId>(state.range(0));
  auto dir = bench_dir();
  std::filesystem::remove_all(dir);
  {
    MessageLog log(MessageLogOptions{});
    if (auto r = log.open(dir.string()); !r) {
      state.SkipWithError(r.error().detail.c_str());
      return;
    }
    const std::vector<QueueId> queues = {1};
    const Bytes body(1024, 'x');
    for (MessageId id = 1; id <= n; ++id) {
      auto a = log.append_message(MessageRecord{id, queues, "amq.direct", "bench", {}, body});
      if (a && id % 2 == 0) (void)log.append_ack(id, 1, a->position);
    }
    (void)log.close();
  }
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    MessageLog log(MessageLogOptions{});
    auto r = log.open(dir.string());
    if (!r) {
      state.SkipWithError(r.error().detail.c_str());
      break;
    }
    bytes = r->stats.bytes_read;
    benchmark::DoNotOptimize(r->queues.size());
    (void)log.close();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
  state.counters["records"] = static_cast<double>(n + n / 2);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Recover)->Arg(200000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sluice::store

BENCHMARK_MAIN();
