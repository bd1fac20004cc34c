#pragma once

// MemFs: an in-memory file system for tests, with fault injection.
//
// A MemFs outlives the MemDirectory handles opened on it, so a test can close a MessageLog,
// damage a file, and open the log again on the same contents. Every file remembers how much
// of it was synced; crash() throws away the rest, as a power cut would.
//
// Thread safety: all of it is guarded by one mutex, so the sync thread and the test may use
// it at the same time.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "store/file.h"
#include "store/thread_annotations.h"

namespace sluice::store {

class MemFs {
 public:
  // --- faults, applied to every file ---
  // The next `n` syncs fail with EIO and make nothing durable.
  void fail_next_syncs(int n) EXCLUDES(mu_);
  // While on, appends fail with EIO. `keep` bytes of the first failing append are written
  // first, to model a torn write.
  void fail_appends(bool on, std::size_t keep = 0) EXCLUDES(mu_);
  // Every sync takes this long, as a real disk's flush would; appends meanwhile are not held up.
  void set_sync_delay(std::chrono::microseconds d) EXCLUDES(mu_);

  // --- damage to one file; REQUIRES: the file exists ---
  // Cuts the file to `size` bytes, as a torn last write would.
  void cut(std::string_view name, std::size_t size) EXCLUDES(mu_);
  void flip_byte(std::string_view name, std::size_t offset) EXCLUDES(mu_);

  // Drops everything not synced from every file, as a power cut would.
  void crash() EXCLUDES(mu_);

  // --- inspection ---
  bool exists(std::string_view name) const EXCLUDES(mu_);
  Bytes contents(std::string_view name) const EXCLUDES(mu_);
  void put(std::string_view name, Bytes contents) EXCLUDES(mu_);
  std::uint64_t sync_count() const EXCLUDES(mu_);

 private:
  friend class MemDirectory;
  friend class MemFile;

  std::chrono::microseconds sync_delay() const EXCLUDES(mu_);

  struct Data {
    Bytes bytes;
    std::size_t synced = 0;
  };

  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<Data>, std::less<>> files_ GUARDED_BY(mu_);
  int failing_syncs_ GUARDED_BY(mu_) = 0;
  bool failing_appends_ GUARDED_BY(mu_) = false;
  std::size_t torn_keep_ GUARDED_BY(mu_) = 0;
  std::uint64_t syncs_ GUARDED_BY(mu_) = 0;
  std::chrono::microseconds sync_delay_ GUARDED_BY(mu_){0};
};

// A Directory over a MemFs. REQUIRES: nothing; it shares ownership of the MemFs.
class MemDirectory final : public Directory {
 public:
  explicit MemDirectory(std::shared_ptr<MemFs> fs, std::string path = "/mem/messages")
      : fs_(std::move(fs)), path_(std::move(path)) {}

  const std::string& path() const override { return path_; }
  Result<std::vector<std::string>> list() override;
  Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  Result<void> remove(std::string_view name) override;
  Result<void> rename(std::string_view from, std::string_view to) override;
  Result<void> sync() override { return ok(); }

 private:
  std::shared_ptr<MemFs> fs_;
  std::string path_;
};

}  // namespace sluice::store
