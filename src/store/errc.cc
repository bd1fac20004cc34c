#include "store/errc.h"

#include <string>

namespace sluice::store {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "store"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::io_error:
        return "I/O error";
      case errc::corrupt:
        return "corrupt record";
      case errc::unsupported_version:
        return "unsupported format version";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::not_written:
        return "record not written yet";
      case errc::not_found:
        return "not found";
      case errc::failed:
        return "message log failed";
      case errc::closed:
        return "message log closed";
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& store_category() {
  static const StoreCategory category;
  return category;
}

}  // namespace sluice::store
