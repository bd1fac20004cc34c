#pragma once

// File and Directory: the only way store code touches the disk.
//
// PosixFile/PosixDirectory are the real thing. MemFile/MemDirectory (store/mem_file.h) keep
// everything in memory and can inject faults, so tests run without a disk and can tear,
// corrupt or fail writes at exact points.
//
// Thread safety: a File handle is used by one thread at a time, except read_at(), which may
// run concurrently with append() on another handle to the same file. A Directory may be used
// from several threads.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace sluice::store {

class File {
 public:
  virtual ~File() = default;

  // Appends all of `data` at the end of the file. A failure may leave part of it written.
  virtual Result<void> append(ByteSpan data) = 0;

  // Reads up to out.size() bytes at `offset`; returns how many were read (fewer only at the
  // end of the file).
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) = 0;

  // A hint that [offset, offset + length) will be read soon: the OS may start reading it in
  // the background. Does nothing where there is nothing to gain (memory files).
  virtual void will_read(std::uint64_t /*offset*/, std::uint64_t /*length*/) {}

  // Makes everything appended so far durable (fdatasync).
  virtual Result<void> sync() = 0;

  // Cuts the file to `size` bytes. REQUIRES: size <= current size.
  virtual Result<void> truncate(std::uint64_t size) = 0;

  virtual Result<std::uint64_t> size() = 0;

  // Releases the handle. Further calls fail. The destructor closes too, ignoring errors.
  virtual Result<void> close() = 0;
};

enum class OpenMode {
  Read,       // existing file, read only
  ReadWrite,  // existing file, read, append and truncate
  Create,     // new file that must not exist yet, append only (and read)
};

class Directory {
 public:
  virtual ~Directory() = default;

  // The directory's path, for log lines and error messages.
  virtual const std::string& path() const = 0;

  // Names of the regular files in the directory, in no particular order.
  virtual Result<std::vector<std::string>> list() = 0;

  virtual Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) = 0;
  virtual Result<void> remove(std::string_view name) = 0;
  virtual Result<void> rename(std::string_view from, std::string_view to) = 0;

  // Makes creations, renames and removals durable (fsync of the directory).
  virtual Result<void> sync() = 0;
};

// Opens `path` as a Directory, creating it (and its parents) if missing.
Result<std::unique_ptr<Directory>> open_posix_directory(const std::string& path);

// Creates `path` and any missing parents, and fsyncs the parent of each directory it creates,
// so that the new entries survive a power failure, not just a crash. Errors: io_error naming
// the path and the call that failed.
Result<void> create_directories_durably(const std::string& path);

// An io_error naming the operation and file, with errno's text: "write /d/f: No space left".
Error io_error(std::string_view op, std::string_view path, int err);

}  // namespace sluice::store
