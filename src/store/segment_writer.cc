#include "store/segment_writer.h"

#include "store/errc.h"

namespace sluice::store {

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(Directory& dir, SegmentId id) {
  auto file = dir.open(log_format::segment_file_name(id), OpenMode::Create);
  if (!file) return file.error();
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(id, std::move(*file)));

  // Header, then make both the file and its directory entry durable.
  Bytes header;
  log_format::encode_header(id, header);
  if (auto r = w->append(header); !r) return r.error();
  if (auto r = w->sync(); !r) return r.error();
  if (auto r = dir.sync(); !r) return r.error();
  return w;
}

Result<void> SegmentWriter::append(ByteSpan records) {
  if (failed_) return Error{make_error_code(errc::failed), "segment writer failed earlier"};
  if (auto r = file_->append(records); !r) return fail(r.error());
  size_ += records.size();
  return ok();
}

Result<void> SegmentWriter::sync() {
  if (failed_) return Error{make_error_code(errc::failed), "segment writer failed earlier"};
  if (auto r = file_->sync(); !r) return fail(r.error());
  return ok();
}

Result<void> SegmentWriter::close() { return file_->close(); }

Result<void> SegmentWriter::fail(Error e) {
  // NOTE: a failed fdatasync may have dropped dirty pages that a retry would then report as
  // clean (the 2018 "fsyncgate" finding), so the writer never retries.
  failed_ = true;
  return e;
}

}  // namespace sluice::store
