#include "broker/errc.h"

#include <string>

namespace sluice::broker {
namespace {

class BrokerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "broker"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::not_found: return "not found";
      case errc::access_refused: return "access refused";
      case errc::resource_locked: return "resource locked";
      case errc::precondition_failed: return "precondition failed";
      case errc::not_implemented: return "not implemented";
      case errc::command_invalid: return "command invalid";
    }
    return "unknown broker error";
  }
};

}  // namespace

const std::error_category& broker_category() {
  static const BrokerCategory category;
  return category;
}

}  // namespace sluice::broker
