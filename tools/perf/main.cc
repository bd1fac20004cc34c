// sluice-perf: an AMQP 0-9-1 load generator. Runs against Sluice or RabbitMQ alike; see
// bench/README.md for the workloads `make bench` runs with it.

#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "tools/perf/benchmark.h"
#include "tools/perf/options.h"
#include "tools/perf/report.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  const auto options = sluice::perf::parse_options(argc, argv, exit_code);
  if (!options) return exit_code;
  try {
    const sluice::perf::Results results = sluice::perf::run_benchmark(*options);
    const std::string summary = options->json ? sluice::perf::format_json(*options, results)
                                              : sluice::perf::format_text(*options, results);
    std::fputs(summary.c_str(), stdout);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sluice-perf: {}\n", e.what());
    return 1;
  }
  return 0;
}
