#pragma once

// One consumer: its own connection and thread, consuming one queue and measuring end-to-end
// latency from the stamp in each body.

#include <atomic>
#include <cstdint>
#include <string>

#include "tools/perf/amqp_client.h"
#include "tools/perf/histogram.h"
#include "tools/perf/run_control.h"

namespace sluice::perf {

struct ConsumerConfig {
  ConnectionParams connection;
  std::string queue;
  // basic.qos prefetch count; 0 sends no basic.qos (the broker's default, usually unlimited).
  std::uint16_t prefetch = 1000;
  bool auto_ack = false;
  // With manual acks, one basic.ack with multiple=true per this many deliveries (and whenever
  // the consumer goes idle with deliveries unacked). REQUIRES: > 0, and <= prefetch when
  // prefetch is set, or the consumer would stall waiting for deliveries the broker holds back.
  std::uint32_t ack_every = 100;
};

// Written by the consumer's thread. Only received_total may be read while it runs; the rest
// is final once the thread has been joined.
struct ConsumerStats {
  std::atomic<std::uint64_t> received_total{0};  // whole run, for progress lines
  std::uint64_t consumed = 0;                    // in the measured window
  std::uint64_t unstamped = 0;                   // bodies too short to carry a stamp
  std::uint64_t stale = 0;  // stamped before this run started: left over from an earlier one
  // Deliveries whose sequence number is not above the last one seen from the same publisher:
  // duplicates or reordering. A queue hands each consumer its messages in order, so on a
  // healthy broker this stays 0 (gaps are normal: other consumers take the rest).
  std::uint64_t out_of_order = 0;
  Histogram latency;  // ns, publish to receive, measured window
  std::string error;  // empty unless the consumer failed
};

// Connects, subscribes, waits at the gate, consumes until the window ends, closes. Runs on the
// calling thread and never throws: a failure is stored in stats.error and aborts the run.
void run_consumer(const ConsumerConfig& config, RunControl& control, ConsumerStats& stats);

}  // namespace sluice::perf
