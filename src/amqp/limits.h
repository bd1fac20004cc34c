#pragma once

// What a connection offers in connection.tune and enforces afterwards. Filled by the server
// from the configuration; the AMQP layer does not read configuration files itself.

#include <chrono>
#include <cstdint>

namespace sluice::amqp {

struct Limits {
  std::uint16_t channel_max = 2047;
  std::uint32_t frame_max = 131072;
  std::uint16_t heartbeat_seconds = 60;
  std::chrono::seconds handshake_timeout{10};
  std::uint64_t max_message_size = 128ull << 20;
  // How long we wait for close-ok after sending connection.close before dropping the socket.
  std::chrono::milliseconds close_timeout{3000};
};

}  // namespace sluice::amqp
