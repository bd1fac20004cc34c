#pragma once

// The first kStampSize bytes of every message body sluice-perf publishes:
//
//   send_ns       u64  steady-clock nanoseconds when the publisher handed it to write()
//   publisher_id  u32
//   sequence      u32  per publisher, from 0, wrapping
//
// All big-endian. Publishers and consumers run in one process, so they share the steady clock
// and a consumer's receive time minus send_ns is the end-to-end latency. The rest of the body
// is zeros.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "tools/perf/tcp_socket.h"

namespace sluice::perf {

inline constexpr std::size_t kStampSize = 16;

struct MessageStamp {
  std::uint64_t send_ns = 0;
  std::uint32_t publisher_id = 0;
  std::uint32_t sequence = 0;
};

inline std::uint64_t steady_ns(Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

inline void write_stamp(std::uint8_t* out, const MessageStamp& stamp) {
  auto put = [&out](std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) *out++ = static_cast<std::uint8_t>(v >> (8 * i));
  };
  put(stamp.send_ns, 8);
  put(stamp.publisher_id, 4);
  put(stamp.sequence, 4);
}

inline MessageStamp read_stamp(const std::uint8_t* in) {
  auto get = [&in](int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | *in++;
    return v;
  };
  MessageStamp stamp;
  stamp.send_ns = get(8);
  stamp.publisher_id = static_cast<std::uint32_t>(get(4));
  stamp.sequence = static_cast<std::uint32_t>(get(4));
  return stamp;
}

}  // namespace sluice::perf
