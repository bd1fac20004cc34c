#include "store/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/errc.h"

namespace sluice::store {

Error io_error(std::string_view op, std::string_view path, int err) {
  return Error{make_error_code(errc::io_error),
               fmt::format("{} {}: {}", op, path, std::strerror(err))};
}

namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { (void)close(); }

  Result<void> append(ByteSpan data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("write", path_, errno);
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return ok();
  }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("read", path_, errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Result<void> sync() override {
    if (::fdatasync(fd_) != 0) return io_error("fdatasync", path_, errno);
    return ok();
  }

  Result<void> truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return io_error("truncate", path_, errno);
    }
    return ok();
  }

  void will_read(std::uint64_t offset, std::uint64_t length) override {
    // Advice only: a failure costs a later read its head start, nothing else.
    (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                          POSIX_FADV_WILLNEED);
  }

  Result<std::uint64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return io_error("stat", path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

  Result<void> close() override {
    if (fd_ < 0) return ok();
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return io_error("close", path_, errno);
    return ok();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixDirectory final : public Directory {
 public:
  explicit PosixDirectory(std::string path) : path_(std::move(path)) {}

  const std::string& path() const override { return path_; }

  Result<std::vector<std::string>> list() override {
    DIR* d = ::opendir(path_.c_str());
    if (d == nullptr) return io_error("opendir", path_, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN) names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::erase_if(names, [](const std::string& n) { return n == "." || n == ".."; });
    return names;
  }

  Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override {
    std::string full = join(name);
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::Read:
        flags |= O_RDONLY;
        break;
      case OpenMode::ReadWrite:
        flags |= O_RDWR | O_APPEND;
        break;
      case OpenMode::Create:
        flags |= O_RDWR | O_APPEND | O_CREAT | O_EXCL;
        break;
    }
    int fd = ::open(full.c_str(), flags, 0644);
    if (fd < 0) {
      if (errno == ENOENT) return Error{make_error_code(errc::not_found), full};
      return io_error("open", full, errno);
    }
    return std::unique_ptr<File>(new PosixFile(fd, std::move(full)));
  }

  Result<void> remove(std::string_view name) override {
    std::string full = join(name);
    if (::unlink(full.c_str()) != 0) return io_error("unlink", full, errno);
    return ok();
  }

  Result<void> rename(std::string_view from, std::string_view to) override {
    std::string a = join(from);
    std::string b = join(to);
    if (::rename(a.c_str(), b.c_str()) != 0) return io_error("rename", a, errno);
    return ok();
  }

  Result<void> sync() override {
    int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_error("open", path_, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return io_error("fsync", path_, err);
    return ok();
  }

 private:
  std::string join(std::string_view name) const { return fmt::format("{}/{}", path_, name); }

  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Directory>> open_posix_directory(const std::string& path) {
  if (auto r = create_directories_durably(path); !r) return r.error();
  return std::unique_ptr<Directory>(new PosixDirectory(path));
}

Result<void> create_directories_durably(const std::string& path) {
  // Walk down from the first missing ancestor: a new directory's entry lives in its parent,
  // and only an fsync of the parent makes it durable.
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = std::filesystem::absolute(path, ec); !ec && !p.empty();
       p = p.parent_path()) {
    if (std::filesystem::exists(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (ec) return io_error("stat", path, ec.value());
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      return io_error("mkdir", it->string(), errno);
    if (auto r = PosixDirectory(it->parent_path().string()).sync(); !r) return r;
  }
  if (!std::filesystem::is_directory(path, ec)) return io_error("mkdir", path, ENOTDIR);
  return ok();
}

}  // namespace sluice::store
