#include "net/io_pool.h"

#include <pthread.h>

#include <string>

namespace sluice::net {

IoPool::IoPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    // concurrency hint 1: each context is run by exactly one thread, so Asio can skip locking.
    loops_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(loops_.back()->get_executor());
  }
}

IoPool::~IoPool() { stop(); }

asio::io_context& IoPool::next() {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void IoPool::start() {
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    threads_.emplace_back([this, i] {
      const std::string name = "sluice-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      loops_[i]->run();
    });
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& loop : loops_) loop->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace sluice::net
