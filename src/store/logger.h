#pragma once

// The "store" subsystem logger. Lines start with segment= (and offset= where it applies).

#include "common/logging.h"

namespace sluice::store {

inline spdlog::logger* logger() {
  static const auto instance = log::get("store");
  return instance.get();
}

}  // namespace sluice::store
