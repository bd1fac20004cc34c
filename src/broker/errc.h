#pragma once

// Broker errors. The AMQP layer turns them into reply codes in one place
// (amqp/broker_errors.cc); the broker itself knows nothing of the protocol's numbers.

#include <system_error>

namespace sluice::broker {

enum class errc {
  not_found = 1,        // no such queue or exchange
  access_refused,       // reserved names, internal exchanges, exclusive consumers
  resource_locked,      // exclusive queue of another connection
  precondition_failed,  // inequivalent redeclare, in use, not empty, bad arguments
  not_implemented,      // a known feature that this version does not have yet
  command_invalid,      // unknown exchange type
};

const std::error_category& broker_category();

inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), broker_category()};
}

}  // namespace sluice::broker

template <>
struct std::is_error_code_enum<sluice::broker::errc> : std::true_type {};
