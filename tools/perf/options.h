#pragma once

// sluice-perf's command line, parsed and checked into one struct.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tools/perf/amqp_client.h"

namespace sluice::perf {

struct Options {
  ConnectionParams connection;
  int publishers = 1;
  int consumers = 1;
  int queues = 1;
  std::string queue_prefix = "sluice-perf-";
  // "" publishes through the default exchange with the queue name as routing key; a name
  // declares a direct exchange with each queue bound under its own name.
  std::string exchange;
  // When > 0: a fanout exchange (--exchange, or sluice-perf-fanout) bound to this many queues,
  // one consumer on each.
  int fanout = 0;
  std::size_t message_size = 16;
  double rate = 0;  // total over all publishers; 0 = unlimited
  std::uint32_t confirm_window = 0;
  bool persistent = false;
  std::uint16_t prefetch = 1000;
  bool auto_ack = false;
  std::uint32_t multi_ack = 100;
  double duration_s = 10;
  double warmup_s = 1;
  bool json = false;
  bool quiet = false;

  std::string queue_name(int index) const { return queue_prefix + std::to_string(index); }
};

// Parses and validates the command line. Returns the options, or the exit code to leave with
// (0 after --help, non-zero after printing what was wrong).
std::optional<Options> parse_options(int argc, const char* const* argv, int& exit_code);

}  // namespace sluice::perf
