#pragma once

// The "amqp" subsystem logger. Lines start with conn= (and ch= where it applies).

#include "common/logging.h"

namespace sluice::amqp {

inline spdlog::logger* logger() {
  static const auto instance = log::get("amqp");
  return instance.get();
}

}  // namespace sluice::amqp
