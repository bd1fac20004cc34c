#pragma once

// One sluice-perf run: declare the topology, run every publisher and consumer on its own
// thread and connection for the warmup plus the measured window, tear the topology down, and
// add up what the workers measured.

#include <cstdint>

#include "tools/perf/histogram.h"
#include "tools/perf/options.h"

namespace sluice::perf {

struct Results {
  double measured_s = 0;        // length of the measured window
  std::uint64_t published = 0;  // all counts are for the measured window
  std::uint64_t consumed = 0;
  std::uint64_t confirmed = 0;
  std::uint64_t nacked = 0;
  std::uint64_t unstamped = 0;
  std::uint64_t stale = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t left_in_queues = 0;  // messages the queues still held at teardown
  Histogram latency;                 // ns, publish to consume
  Histogram confirm_latency;         // ns, publish to confirm
  double tool_cpu_s = 0;             // sluice-perf's own CPU time in the measured window
};

// Runs the benchmark that `options` describes. Progress goes to stderr once a second unless
// options.quiet. Throws std::runtime_error (or AmqpError) when setup fails or any worker
// fails; the queues are deleted either way when the broker still answers.
Results run_benchmark(const Options& options);

}  // namespace sluice::perf
