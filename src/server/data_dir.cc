#include "server/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "store/file.h"

namespace sluice::server {

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<void> DataDir::open(const std::string& path) {
  if (auto r = store::create_directories_durably(path); !r) {
    return Error{r.error().code, fmt::format("cannot create data directory {}: {}", path,
                                             r.error().detail)};
  }
  std::error_code ec;
  path_ = std::filesystem::absolute(path, ec).string();
  const std::string lock_path = path_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    const std::error_code err(errno, std::generic_category());
    return Error{err, fmt::format("cannot open {}: {}", lock_path, err.message())};
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::error_code err(errno, std::generic_category());
    return Error{err, fmt::format("data directory {} is in use by another sluice process "
                                  "(cannot lock {}: {})",
                                  path_, lock_path, err.message())};
  }
  return ok();
}

}  // namespace sluice::server
