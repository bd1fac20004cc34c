#pragma once

// Turns a run's Results into the summary sluice-perf prints: a few aligned lines for people,
// or one JSON object (--json) for bench/run.sh and other scripts.
//
// JSON keys, all numbers unless noted: published_per_s, consumed_per_s, confirmed_per_s,
// published, consumed, confirmed, nacked, unstamped, stale, out_of_order, left_in_queues,
// measured_s, tool_cpu_s, latency_us and confirm_latency_us (objects with count, p50, p99, p999,
// max, mean; all 0 when nothing was measured), and config (an object echoing the options).

#include <string>

#include "tools/perf/benchmark.h"
#include "tools/perf/options.h"

namespace sluice::perf {

std::string format_text(const Options& options, const Results& results);
std::string format_json(const Options& options, const Results& results);

}  // namespace sluice::perf
