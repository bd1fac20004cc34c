#include "store/mem_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "common/assert.h"
#include "store/errc.h"

namespace sluice::store {

// One open handle on a MemFs file. Holds the file's data alive, like an open fd on an
// unlinked file.
class MemFile final : public File {
 public:
  MemFile(std::shared_ptr<MemFs> fs, std::shared_ptr<MemFs::Data> data, std::string name,
          bool writable)
      : fs_(std::move(fs)), data_(std::move(data)), name_(std::move(name)), writable_(writable) {}

  Result<void> append(ByteSpan bytes) override {
    MutexLock lock(fs_->mu_);
    if (closed_ || !writable_) return io_error("write", name_, EBADF);
    if (fs_->failing_appends_) {
      std::size_t keep = std::min(fs_->torn_keep_, bytes.size());
      data_->bytes.insert(data_->bytes.end(), bytes.begin(), bytes.begin() + keep);
      fs_->torn_keep_ = 0;
      return io_error("write", name_, EIO);
    }
    data_->bytes.insert(data_->bytes.end(), bytes.begin(), bytes.end());
    return ok();
  }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    MutexLock lock(fs_->mu_);
    if (closed_) return io_error("read", name_, EBADF);
    const Bytes& b = data_->bytes;
    if (offset >= b.size()) return std::size_t{0};
    std::size_t n = std::min<std::size_t>(out.size(), b.size() - offset);
    std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(offset), n, out.begin());
    return n;
  }

  Result<void> sync() override {
    std::chrono::microseconds delay = fs_->sync_delay();
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    MutexLock lock(fs_->mu_);
    if (closed_) return io_error("fdatasync", name_, EBADF);
    if (fs_->failing_syncs_ > 0) {
      --fs_->failing_syncs_;
      return io_error("fdatasync", name_, EIO);
    }
    data_->synced = data_->bytes.size();
    ++fs_->syncs_;
    return ok();
  }

  Result<void> truncate(std::uint64_t size) override {
    MutexLock lock(fs_->mu_);
    if (closed_ || !writable_) return io_error("truncate", name_, EBADF);
    BROKER_ASSERT(size <= data_->bytes.size());
    data_->bytes.resize(size);
    data_->synced = std::min(data_->synced, data_->bytes.size());
    return ok();
  }

  Result<std::uint64_t> size() override {
    MutexLock lock(fs_->mu_);
    return static_cast<std::uint64_t>(data_->bytes.size());
  }

  Result<void> close() override {
    closed_ = true;
    return ok();
  }

 private:
  std::shared_ptr<MemFs> fs_;
  std::shared_ptr<MemFs::Data> data_;
  std::string name_;
  bool writable_;
  bool closed_ = false;
};

void MemFs::fail_next_syncs(int n) {
  MutexLock lock(mu_);
  failing_syncs_ = n;
}

void MemFs::set_sync_delay(std::chrono::microseconds d) {
  MutexLock lock(mu_);
  sync_delay_ = d;
}

std::chrono::microseconds MemFs::sync_delay() const {
  MutexLock lock(mu_);
  return sync_delay_;
}

void MemFs::fail_appends(bool on, std::size_t keep) {
  MutexLock lock(mu_);
  failing_appends_ = on;
  torn_keep_ = keep;
}

void MemFs::cut(std::string_view name, std::size_t size) {
  MutexLock lock(mu_);
  auto it = files_.find(name);
  BROKER_ASSERT(it != files_.end() && size <= it->second->bytes.size());
  it->second->bytes.resize(size);
  it->second->synced = std::min(it->second->synced, size);
}

void MemFs::flip_byte(std::string_view name, std::size_t offset) {
  MutexLock lock(mu_);
  auto it = files_.find(name);
  BROKER_ASSERT(it != files_.end() && offset < it->second->bytes.size());
  it->second->bytes[offset] ^= 0xff;
}

void MemFs::crash() {
  MutexLock lock(mu_);
  for (auto& [name, data] : files_) data->bytes.resize(data->synced);
}

bool MemFs::exists(std::string_view name) const {
  MutexLock lock(mu_);
  return files_.find(name) != files_.end();
}

Bytes MemFs::contents(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = files_.find(name);
  return it == files_.end() ? Bytes{} : it->second->bytes;
}

void MemFs::put(std::string_view name, Bytes contents) {
  MutexLock lock(mu_);
  auto data = std::make_shared<Data>();
  data->bytes = std::move(contents);
  data->synced = data->bytes.size();
  files_[std::string(name)] = std::move(data);
}

std::uint64_t MemFs::sync_count() const {
  MutexLock lock(mu_);
  return syncs_;
}

Result<std::vector<std::string>> MemDirectory::list() {
  MutexLock lock(fs_->mu_);
  std::vector<std::string> names;
  for (const auto& [name, data] : fs_->files_) names.push_back(name);
  return names;
}

Result<std::unique_ptr<File>> MemDirectory::open(std::string_view name, OpenMode mode) {
  MutexLock lock(fs_->mu_);
  auto it = fs_->files_.find(name);
  if (mode == OpenMode::Create) {
    if (it != fs_->files_.end()) return io_error("open", name, EEXIST);
    it = fs_->files_.emplace(std::string(name), std::make_shared<MemFs::Data>()).first;
  } else if (it == fs_->files_.end()) {
    return Error{make_error_code(errc::not_found), fmt::format("{}/{}", path_, name)};
  }
  bool writable = mode != OpenMode::Read;
  return std::unique_ptr<File>(new MemFile(fs_, it->second, std::string(name), writable));
}

Result<void> MemDirectory::remove(std::string_view name) {
  MutexLock lock(fs_->mu_);
  auto it = fs_->files_.find(name);
  if (it == fs_->files_.end()) return io_error("unlink", name, ENOENT);
  fs_->files_.erase(it);
  return ok();
}

Result<void> MemDirectory::rename(std::string_view from, std::string_view to) {
  MutexLock lock(fs_->mu_);
  auto it = fs_->files_.find(from);
  if (it == fs_->files_.end()) return io_error("rename", from, ENOENT);
  auto data = it->second;
  fs_->files_.erase(it);
  fs_->files_[std::string(to)] = std::move(data);
  return ok();
}

}  // namespace sluice::store
