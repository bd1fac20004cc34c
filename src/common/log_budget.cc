#include "common/log_budget.h"

#include <fmt/format.h>

namespace sluice::log {

bool LogBudget::allow(std::uint64_t& held_back, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (now - window_start_ >= interval_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++held_back_;
    return false;
  }
  ++used_;
  held_back = held_back_;
  held_back_ = 0;
  return true;
}

std::string held_back_note(std::uint64_t held_back) {
  return held_back == 0 ? std::string() : fmt::format(" ({} similar lines held back)", held_back);
}

}  // namespace sluice::log
