#pragma once

// DataDir: the broker's data directory, created if missing and locked for the life of the
// process so two brokers never write the same files.

#include <string>

#include "common/result.h"

namespace sluice::server {

class DataDir {
 public:
  DataDir() = default;
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  // Creates `path` (and parents), and takes an exclusive lock on path/LOCK. The error names
  // the path and the reason, including "in use by another sluice process".
  Result<void> open(const std::string& path);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace sluice::server
