#include "tools/perf/confirm_tracker.h"

#include <cassert>

namespace sluice::perf {

ConfirmTracker::ConfirmTracker(std::uint32_t window) : window_(window), sent_ns_(window, kSettled) {
  assert(window > 0);
}

std::uint64_t ConfirmTracker::on_publish(std::uint64_t send_ns) {
  assert(room() > 0);
  slot(next_) = send_ns;
  return next_++;
}

bool ConfirmTracker::settle(std::uint64_t tag, std::uint64_t now_ns, Histogram* latency) {
  std::uint64_t& sent = slot(tag);
  if (sent == kSettled) return false;
  if (latency != nullptr) latency->record(now_ns > sent ? now_ns - sent : 0);
  sent = kSettled;
  return true;
}

std::uint64_t ConfirmTracker::on_confirm(std::uint64_t tag, bool multiple, std::uint64_t now_ns,
                                         Histogram* latency) {
  if (tag < oldest_ || tag >= next_) return 0;
  std::uint64_t settled = 0;
  for (std::uint64_t t = multiple ? oldest_ : tag; t <= tag; ++t) {
    if (settle(t, now_ns, latency)) ++settled;
  }
  while (oldest_ < next_ && slot(oldest_) == kSettled) ++oldest_;
  return settled;
}

}  // namespace sluice::perf
