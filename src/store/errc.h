#pragma once

// Store errors. Everything the disk can do to us is reported through these, never asserted on:
// a corrupt record found during recovery is handled there (truncated and logged), so these
// reach the owner only when the store cannot go on.

#include <system_error>

namespace sluice::store {

enum class errc {
  io_error = 1,         // a system call failed; detail names the file and errno text
  corrupt,              // a record read back by position does not check out
  unsupported_version,  // the directory was written by a newer format version
  invalid_argument,     // a record the format cannot hold (too long a name, no queues...)
  not_written,          // read_message() of a record the sync thread has not written yet
  not_found,            // no such file or segment
  failed,               // an earlier write or sync failed; the log accepts nothing more
  closed,               // the log is not open
};

const std::error_category& store_category();

inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), store_category()}; }

}  // namespace sluice::store

template <>
struct std::is_error_code_enum<sluice::store::errc> : std::true_type {};
