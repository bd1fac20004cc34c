#pragma once

// One publisher: its own connection and thread, publishing a fixed message as fast as it may
// (or paced to a rate), with or without publisher confirms.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/perf/amqp_client.h"
#include "tools/perf/histogram.h"
#include "tools/perf/run_control.h"

namespace sluice::perf {

struct PublisherConfig {
  ConnectionParams connection;
  std::uint32_t id = 0;
  std::string exchange;
  std::string routing_key;
  // REQUIRES: at least kStampSize.
  std::size_t message_size = 16;
  // Messages per second for this publisher; 0 publishes as fast as the broker takes them.
  double rate = 0;
  // Unconfirmed messages allowed in flight; 0 leaves confirms off.
  std::uint32_t confirm_window = 0;
  bool persistent = false;
};

// Written by the publisher's thread. Only sent_total may be read while it runs; the rest is
// final once the thread has been joined.
struct PublisherStats {
  std::atomic<std::uint64_t> sent_total{0};  // whole run, warmup included, for progress lines
  std::uint64_t published = 0;               // in the measured window
  std::uint64_t confirmed = 0;               // acks received in the measured window
  std::uint64_t nacked = 0;
  Histogram confirm_latency;  // ns from publish to ack, measured window
  std::string error;          // empty unless the publisher failed
};

// Connects, waits at the gate, publishes until the window ends, closes. Runs on the calling
// thread and never throws: a failure is stored in stats.error and aborts the whole run.
void run_publisher(const PublisherConfig& config, RunControl& control, PublisherStats& stats);

}  // namespace sluice::perf
