#pragma once

// IoPool: one Asio io_context per thread, the broker's event loops.
//
// A connection is placed on one loop when accepted and lives there until it closes, so its
// state needs no locks. Created and stopped by the server's main thread.

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace sluice::net {

class IoPool {
 public:
  explicit IoPool(std::size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  std::size_t size() const { return loops_.size(); }
  asio::io_context& loop(std::size_t i) { return *loops_[i]; }

  // Round-robin choice of a loop for a new connection. Thread-safe.
  asio::io_context& next();

  // Starts one thread per loop. Loops keep running until stop().
  void start();
  // Stops every loop and joins the threads. Idempotent.
  void stop();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> loops_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace sluice::net
