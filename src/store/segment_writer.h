#pragma once

// SegmentWriter: appends already-framed records to one segment file.
//
// Owned by MessageLog's sync thread, and used by one thread at a time. Appended bytes are
// durable only once sync() has returned ok. After a failed append or sync the file's tail is
// unknown: the writer refuses further appends, and the next recovery truncates whatever is
// torn.

#include <memory>

#include "common/result.h"
#include "store/file.h"
#include "store/log_format.h"

namespace sluice::store {

class SegmentWriter {
 public:
  // Creates segment `id` in `dir` (the file must not exist) and writes its header. The header
  // and the directory entry are synced before this returns, so a crash never leaves a listed
  // segment without a header unless the disk lied.
  static Result<std::unique_ptr<SegmentWriter>> create(Directory& dir, SegmentId id);

  SegmentId id() const { return id_; }

  // Bytes in the file, header included.
  std::uint64_t size() const { return size_; }

  // REQUIRES: `records` is a whole number of framed records.
  Result<void> append(ByteSpan records);
  Result<void> sync();
  Result<void> close();

 private:
  SegmentWriter(SegmentId id, std::unique_ptr<File> file) : id_(id), file_(std::move(file)) {}
  Result<void> fail(Error e);

  SegmentId id_;
  std::unique_ptr<File> file_;
  std::uint64_t size_ = 0;
  bool failed_ = false;
};

}  // namespace sluice::store
