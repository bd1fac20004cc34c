#pragma once

// Counters a connection keeps for the management API and Prometheus. Written only by the
// connection's event loop; read from any thread, hence relaxed atomics.

#include <atomic>
#include <cstdint>

namespace sluice::amqp {

struct ConnectionStats {
  std::atomic<std::uint64_t> recv_oct{0};
  std::atomic<std::uint64_t> recv_frames{0};
  std::atomic<std::uint64_t> send_oct{0};
  std::atomic<std::uint64_t> send_frames{0};
  std::atomic<std::uint32_t> channels{0};

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

}  // namespace sluice::amqp
