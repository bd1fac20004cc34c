#include "common/assert.h"

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace sluice::detail {

void assert_failed(std::string_view condition, std::string_view file, int line) {
  spdlog::critical("assertion failed: {} at {}:{}", condition, file, line);
  spdlog::shutdown();
  std::abort();
}

}  // namespace sluice::detail
