#pragma once

// What the worker threads of one benchmark run share: a gate that starts them together once
// every one is connected, the run's time window, and an abort flag.
//
// Lifecycle: main creates one RunControl for all workers; each worker connects and sets up,
// then calls arrive_and_wait(), which returns the window once the last one arrives (or nullopt
// if the run was aborted meanwhile). A worker that fails calls abort(); the others see it in
// aborted() at their next loop turn and stop. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "tools/perf/tcp_socket.h"

namespace sluice::perf {

// Workers publish and consume from start to end; only what happens from measure_from on (after
// the warmup) counts.
struct Window {
  Clock::time_point start;
  Clock::time_point measure_from;
  Clock::time_point end;

  bool measured(Clock::time_point t) const { return t >= measure_from && t < end; }
};

class RunControl {
 public:
  RunControl(int workers, Clock::duration warmup, Clock::duration duration)
      : waiting_for_(workers), warmup_(warmup), duration_(duration) {}

  std::optional<Window> arrive_and_wait() {
    std::unique_lock lock(mu_);
    if (--waiting_for_ == 0 && !aborted()) {
      // A moment's margin so that the last worker out of the gate starts on time too.
      const auto start = Clock::now() + std::chrono::milliseconds(20);
      window_ = Window{start, start + warmup_, start + warmup_ + duration_};
      cv_.notify_all();
    }
    cv_.wait(lock, [this] { return window_.has_value() || aborted(); });
    if (aborted()) return std::nullopt;
    return window_;
  }

  void abort() {
    {
      std::lock_guard lock(mu_);
      aborted_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
  }

  bool aborted() const { return aborted_.load(std::memory_order_relaxed); }

  // The window, once the gate has opened.
  std::optional<Window> window() const {
    std::lock_guard lock(mu_);
    return window_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int waiting_for_;
  Clock::duration warmup_;
  Clock::duration duration_;
  std::optional<Window> window_;
  std::atomic<bool> aborted_{false};
};

}  // namespace sluice::perf
