#include <gtest/gtest.h>

#include "store/mem_file.h"
#include "store/record.h"
#include "store/segment_reader.h"
#include "store/segment_writer.h"
#include "store/tests/test_util.h"

namespace sluice::store::tests {
namespace {

using log_format::HeaderStatus;
using testing::message;

// Suite named after the class under test; store::SegmentReader is the class itself.
class SegmentReader : public ::testing::Test {
 protected:
  // Writes `n` message records to segment 1 and returns the file name.
  std::string write_segment(int n, std::size_t body_size = 10) {
    auto w = SegmentWriter::create(dir_, 1);
    EXPECT_TRUE(w.ok());
    for (int i = 1; i <= n; ++i) {
      Bytes framed;
      encode_message(message(i, {1}, std::string(body_size, 'a' + i % 26)).record(), framed);
      sizes_.push_back(framed.size());
      EXPECT_TRUE((*w)->append(framed).ok());
    }
    EXPECT_TRUE((*w)->sync().ok());
    return log_format::segment_file_name(1);
  }

  // Reads the segment back; returns the ids read and leaves the reader's verdict in stop_.
  std::vector<MessageId> read_all(std::size_t buffer = 64) {
    auto file = dir_.open(log_format::segment_file_name(1), OpenMode::Read);
    EXPECT_TRUE(file.ok());
    auto size = (*file)->size();
    store::SegmentReader reader(**file, *size, buffer);
    auto h = reader.read_header();
    EXPECT_TRUE(h.ok());
    header_ = h->status;
    std::vector<MessageId> ids;
    RecordView r;
    while (header_ == HeaderStatus::Ok && reader.next(r)) {
      MessageHeaderView m;
      EXPECT_TRUE(decode_message_header(r.payload, m));
      ids.push_back(m.id);
    }
    stop_ = reader.stop_reason();
    stop_offset_ = reader.stop_offset();
    return ids;
  }

  std::shared_ptr<MemFs> fs_ = std::make_shared<MemFs>();
  MemDirectory dir_{fs_};
  std::vector<std::size_t> sizes_;
  HeaderStatus header_ = HeaderStatus::Short;
  StopReason stop_ = StopReason::None;
  std::uint64_t stop_offset_ = 0;
};

TEST_F(SegmentReader, ReadsWhatTheWriterWroteInOrder) {
  write_segment(50);
  EXPECT_EQ(read_all().size(), 50u);
  EXPECT_EQ(stop_, StopReason::CleanEnd);
  EXPECT_EQ(read_all(1 << 20), read_all(64));
}

TEST_F(SegmentReader, ReadsRecordsLargerThanItsBuffer) {
  write_segment(3, 10000);
  EXPECT_EQ(read_all(64), (std::vector<MessageId>{1, 2, 3}));
  EXPECT_EQ(stop_, StopReason::CleanEnd);
}

TEST_F(SegmentReader, StopsAtTornRecordAtEveryByte) {
  std::string name = write_segment(3);
  std::size_t full = fs_->contents(name).size();
  std::size_t last_start = full - sizes_.back();
  Bytes original = fs_->contents(name);
  for (std::size_t cut = last_start + 1; cut < full; ++cut) {
    fs_->put(name, Bytes(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(cut)));
    EXPECT_EQ(read_all(), (std::vector<MessageId>{1, 2})) << "cut at " << cut;
    EXPECT_EQ(stop_, StopReason::TornRecord);
    EXPECT_EQ(stop_offset_, last_start);
  }
}

TEST_F(SegmentReader, StopsAtChecksumMismatch) {
  std::string name = write_segment(3);
  std::size_t second = log_format::kHeaderSize + sizes_[0];
  fs_->flip_byte(name, second + sizes_[1] - 1);  // last body byte of record 2
  EXPECT_EQ(read_all(), (std::vector<MessageId>{1}));
  EXPECT_EQ(stop_, StopReason::ChecksumMismatch);
  EXPECT_EQ(stop_offset_, second);
}

TEST_F(SegmentReader, StopsAtBadLength) {
  std::string name = write_segment(2);
  fs_->flip_byte(name, log_format::kHeaderSize);  // high byte of record 1's length
  EXPECT_TRUE(read_all().empty());
  EXPECT_EQ(stop_, StopReason::BadLength);
  EXPECT_EQ(stop_offset_, log_format::kHeaderSize);
}

TEST_F(SegmentReader, HeaderChecksCatchMagicChecksumAndVersion) {
  std::string name = write_segment(1);
  Bytes original = fs_->contents(name);

  fs_->flip_byte(name, 0);
  read_all();
  EXPECT_EQ(header_, HeaderStatus::BadMagic);

  fs_->put(name, original);
  fs_->flip_byte(name, 15);  // inside the segment id
  read_all();
  EXPECT_EQ(header_, HeaderStatus::BadChecksum);

  fs_->put(name, original);
  fs_->cut(name, log_format::kHeaderSize - 1);
  read_all();
  EXPECT_EQ(header_, HeaderStatus::Short);
}

TEST(SegmentHeader, NewerVersionIsReportedWithItsNumber) {
  Bytes h;
  log_format::encode_header(7, h);
  const std::uint32_t newer = log_format::kFormatVersion + 1;
  ByteWriter(h).patch_u32(8, newer);  // the version follows the 8-byte magic
  std::uint32_t sum = log_format::checksum(ByteSpan(h).first(log_format::kHeaderSize - 4));
  ByteWriter(h).patch_u32(log_format::kHeaderSize - 4, sum);
  log_format::SegmentHeader out;
  EXPECT_EQ(log_format::decode_header(h, out), HeaderStatus::NewerVersion);
  EXPECT_EQ(out.version, newer);
  EXPECT_EQ(out.segment, 7u);
}

TEST(SegmentHeader, OlderVersionIsRead) {
  Bytes h;
  log_format::encode_header(7, h);
  ByteWriter(h).patch_u32(8, 1);  // version 1 segments have no Paged records, else the same
  std::uint32_t sum = log_format::checksum(ByteSpan(h).first(log_format::kHeaderSize - 4));
  ByteWriter(h).patch_u32(log_format::kHeaderSize - 4, sum);
  log_format::SegmentHeader out;
  EXPECT_EQ(log_format::decode_header(h, out), HeaderStatus::Ok);
  EXPECT_EQ(out.version, 1u);
}

TEST(SegmentFileName, RoundTripsAndRejectsOthers) {
  SegmentId id = 0;
  EXPECT_EQ(log_format::segment_file_name(12), "00000000000000000012.seg");
  EXPECT_TRUE(log_format::parse_segment_file_name("00000000000000000012.seg", id));
  EXPECT_EQ(id, 12u);
  EXPECT_FALSE(log_format::parse_segment_file_name("0000000000000000012.seg", id));
  EXPECT_FALSE(log_format::parse_segment_file_name("00000000000000000012.seg.corrupt", id));
  EXPECT_TRUE(log_format::parse_corrupt_file_name("00000000000000000012.seg.corrupt", id));
  EXPECT_FALSE(log_format::parse_segment_file_name("0000000000000000001x.seg", id));
}

}  // namespace
}  // namespace sluice::store::tests
