#pragma once

// Publisher-confirm bookkeeping for one channel: which delivery tags are still unconfirmed,
// and how long each confirm took.
//
// Tags are assigned 1, 2, 3... in publish order, as confirm.select numbers them. At most
// `window` tags may be in flight between the oldest unconfirmed tag and the next one, so the
// state is a ring of `window` send times. Acks and nacks, single or multiple, may arrive in
// any order; a tag confirmed twice, or one never published, is ignored.

#include <cstdint>
#include <vector>

#include "tools/perf/histogram.h"

namespace sluice::perf {

class ConfirmTracker {
 public:
  // REQUIRES: window > 0.
  explicit ConfirmTracker(std::uint32_t window);

  // How many more messages may be published before the window is full.
  std::uint64_t room() const { return window_ - (next_ - oldest_); }
  bool idle() const { return next_ == oldest_; }

  // Records a publish sent at send_ns; returns its delivery tag. REQUIRES: room() > 0.
  std::uint64_t on_publish(std::uint64_t send_ns);

  // Settles `tag` (and every earlier one when `multiple`). Returns how many tags this settled;
  // their send-to-confirm time goes into `latency` when it is not null.
  std::uint64_t on_confirm(std::uint64_t tag, bool multiple, std::uint64_t now_ns,
                           Histogram* latency);

 private:
  static constexpr std::uint64_t kSettled = ~std::uint64_t{0};

  std::uint64_t& slot(std::uint64_t tag) { return sent_ns_[tag % window_]; }
  bool settle(std::uint64_t tag, std::uint64_t now_ns, Histogram* latency);

  std::uint64_t window_;
  std::vector<std::uint64_t> sent_ns_;  // kSettled, or the send time of a tag in flight
  std::uint64_t oldest_ = 1;            // lowest tag not yet settled (== next_ when idle)
  std::uint64_t next_ = 1;              // tag of the next publish
};

}  // namespace sluice::perf
