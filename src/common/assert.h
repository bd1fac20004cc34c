#pragma once

// BROKER_ASSERT: an always-on invariant check. It logs the failed condition and aborts.
//
// Use it for state that, if wrong, would corrupt data or deliver the wrong message. Never use
// it on input from a client, the disk or the network: those are handled and reported. For
// cheap debug-only checks use assert().

#include <string_view>

namespace sluice::detail {
[[noreturn]] void assert_failed(std::string_view condition, std::string_view file, int line);
}  // namespace sluice::detail

#define BROKER_ASSERT(cond)                                                 \
  do {                                                                      \
    if (!(cond)) [[unlikely]] {                                             \
      ::sluice::detail::assert_failed(#cond, __FILE__, __LINE__);           \
    }                                                                       \
  } while (false)
