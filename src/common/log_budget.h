#pragma once

// LogBudget: a rate limit for log lines that a client can trigger at will (refused logins,
// protocol errors). Without one, a client reconnecting in a loop could fill the disk or drown
// every other line. It lets `burst` lines through per `interval`, counts the ones it holds
// back, and reports that count with the next line it lets through, so nothing is hidden.
//
// Thread-safe; cheap enough to ask on every such event.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace sluice::log {

class LogBudget {
 public:
  using Clock = std::chrono::steady_clock;

  LogBudget(std::uint32_t burst, Clock::duration interval) : burst_(burst), interval_(interval) {}

  // True if a line may be written now. Then `held_back` is how many lines were held back
  // since the last one let through (0 usually).
  bool allow(std::uint64_t& held_back, Clock::time_point now = Clock::now());

 private:
  std::mutex mu_;
  const std::uint32_t burst_;
  const Clock::duration interval_;
  Clock::time_point window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t held_back_ = 0;
};

// " (N similar lines held back)" for N > 0, else "": to append to the line let through.
std::string held_back_note(std::uint64_t held_back);

}  // namespace sluice::log
