// Recovery, driven through MessageLog::open(): torn tails, corrupt records and headers,
// newer versions, progress logging.

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "store/errc.h"
#include "store/logger.h"
#include "store/tests/test_util.h"

namespace sluice::store::tests {
namespace {

using testing::LogFixture;
using testing::message;
using testing::string_of;

// Collects what the store logger writes while it lives. REQUIRES: no MessageLog is open
// when it is created or destroyed, so no other thread logs meanwhile.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    sink_->set_pattern("%l %v");
    logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  bool contains(std::string_view text) const {
    for (const auto& line : sink_->last_formatted()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Rewrites segment `name`'s header version and fixes up its checksum.
void set_version(MemFs& fs, const std::string& name, std::uint32_t version) {
  Bytes b = fs.contents(name);
  ByteWriter w(b);
  w.patch_u32(8, version);
  w.patch_u32(log_format::kHeaderSize - 4,
              log_format::checksum(ByteSpan(b).first(log_format::kHeaderSize - 4)));
  fs.put(name, b);
}

using MessageLog = LogFixture;  // suite named after the class under test

TEST_F(MessageLog, TruncatesTornTailAndKeepsEarlierRecords) {
  open();
  std::vector<Appended> sent;
  for (int i = 1; i <= 3; ++i) sent.push_back(append(message(i, {1})));
  close();
  const Bytes original = fs_->contents(seg(1));
  const std::size_t last = sent.back().position.offset;
  ASSERT_EQ(last + sent.back().position.length, original.size());

  for (std::size_t cut = last + 1; cut < original.size(); ++cut) {
    fs_ = std::make_shared<MemFs>();
    fs_->put(seg(1), Bytes(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(cut)));
    Recovered r = open();
    EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{1, 2})) << "cut at " << cut;
    EXPECT_EQ(r.stats.bytes_dropped, cut - last);
    EXPECT_EQ(r.stats.segments_truncated, 1u);
    close();
    EXPECT_EQ(fs_->contents(seg(1)).size(), last) << "cut at " << cut;
  }
}

TEST_F(MessageLog, TruncatesAtFlippedByteAndStillReadsLaterSegments) {
  options_.segment_size = 4096;
  open();
  std::vector<Appended> sent;
  for (int i = 1; i <= 12; ++i) sent.push_back(append(message(i, {1}, std::string(900, 'x'))));
  close();
  ASSERT_EQ(sent[1].position.segment, 1u);
  ASSERT_EQ(sent[4].position.segment, 2u);

  // Damage the second record of segment 1: the first survives, the rest of segment 1 goes,
  // and every later segment is read as usual.
  const Position& hit = sent[1].position;
  fs_->flip_byte(seg(1), hit.offset + hit.length / 2);
  std::uint64_t size_before = fs_->contents(seg(1)).size();
  std::vector<MessageId> expected = {1};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (sent[i].position.segment > 1) expected.push_back(i + 1);
  }

  Recovered r;
  std::vector<MessageId> ids;
  {
    LogCapture logs;
    r = open();
    ids = ids_of(r, 1);
    close();
    std::string line = fmt::format(
        "truncating segment=1 offset={} dropped_bytes={} "
        "reason=checksum_mismatch",
        hit.offset, size_before - hit.offset);
    EXPECT_TRUE(logs.contains(line)) << line;
  }
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(fs_->contents(seg(1)).size(), hit.offset);
  EXPECT_EQ(r.stats.segments_truncated, 1u);
}

TEST_F(MessageLog, MovesSegmentWithBadHeaderAsideAndReadsTheOthers) {
  options_.segment_size = 4096;
  open();
  std::vector<Appended> sent;
  for (int i = 1; i <= 8; ++i) sent.push_back(append(message(i, {1}, std::string(1500, 'x'))));
  close();
  SegmentId bad = sent[2].position.segment;
  ASSERT_GT(bad, 1u);
  ASSERT_LT(bad, sent.back().position.segment);
  fs_->flip_byte(seg(bad), 2);  // magic

  Recovered r;
  std::vector<MessageId> ids;
  {
    LogCapture logs;
    r = open();
    ids = ids_of(r, 1);
    close();
    EXPECT_TRUE(logs.contains("error bad segment header segment=" + std::to_string(bad)));
  }
  EXPECT_FALSE(fs_->exists(seg(bad)));
  EXPECT_TRUE(fs_->exists(seg(bad) + ".corrupt"));
  EXPECT_EQ(r.stats.segments_moved_aside, 1u);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    bool found = std::find(ids.begin(), ids.end(), i + 1) != ids.end();
    EXPECT_EQ(found, sent[i].position.segment != bad) << "message " << i + 1;
  }

  // The set-aside id is never reused.
  open();
  EXPECT_GT(append(message(100, {1})).position.segment, sent.back().position.segment);
}

TEST_F(MessageLog, RemovesTornSegmentCreationQuietly) {
  open();
  append(message(1, {1}));
  close();
  fs_->put(seg(2), Bytes(10, 0));  // crash between create and header sync

  LogCapture logs;
  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{1});
  close();
  EXPECT_FALSE(fs_->exists(seg(2)));
  EXPECT_FALSE(fs_->exists(seg(2) + ".corrupt"));
  EXPECT_FALSE(logs.contains("error"));
}

TEST_F(MessageLog, RefusesNewerFormatVersionAndChangesNothing) {
  options_.segment_size = 4096;
  open();
  for (int i = 1; i <= 6; ++i) append(message(i, {1}, std::string(1500, 'x')));
  close();
  const std::uint32_t newer = log_format::kFormatVersion + 1;
  set_version(*fs_, seg(2), newer);
  fs_->cut(seg(1), fs_->contents(seg(1)).size() - 3);  // would be truncated by a recovery
  Bytes seg1 = fs_->contents(seg(1));

  auto r = try_open();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::unsupported_version);
  EXPECT_NE(r.error().detail.find("/mem/messages"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find(fmt::format("format version {}", newer)), std::string::npos)
      << r.error().detail;
  EXPECT_NE(r.error().detail.find(fmt::format("up to {}", log_format::kFormatVersion)),
            std::string::npos)
      << r.error().detail;
  EXPECT_EQ(fs_->contents(seg(1)), seg1);
}

TEST_F(MessageLog, AcksInLaterSegmentsSurviveRecoveryOfEarlierTruncation) {
  options_.segment_size = 4096;
  open();
  auto m1 = message(1, {1}, std::string(1500, 'a'));
  auto m2 = message(2, {1}, std::string(1500, 'b'));
  Appended a1 = append(m1);
  Appended a2 = append(m2);
  append(message(3, {1}, std::string(1500, 'c')));  // rolls
  ack(m1, 1, a1.position);
  close();

  // m2's record is damaged: it is dropped, m1 stays acked, m3 is live.
  fs_->flip_byte(seg(1), a2.position.offset + 20);
  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{3});
}

TEST_F(MessageLog, RecoveryLogsProgressAndIsQuickForManyMessages) {
  options_.recovery_progress_bytes = 1 << 20;
  options_.segment_size = 1 << 20;
  open();
  constexpr int kMessages = 20000;
  std::vector<std::pair<testing::TestMessage, Appended>> sent;
  for (int i = 1; i <= kMessages; ++i) {
    auto m = message(i, {1, 2}, std::string(200, 'x'));
    sent.emplace_back(m, append(m));
  }
  // Queue 1 acks the first half.
  for (int i = 0; i < kMessages / 2; ++i) ack(sent[i].first, 1, sent[i].second.position);
  close();

  LogCapture logs;
  Recovered r = open();
  auto first_half_left = ids_of(r, 1);
  close();
  EXPECT_TRUE(logs.contains("info recovery progress"));
  EXPECT_TRUE(logs.contains("info recovered dir=/mem/messages"));
  EXPECT_EQ(r.queues[1].messages, std::uint64_t{kMessages / 2});
  EXPECT_EQ(r.queues[2].messages, std::uint64_t{kMessages});
  ASSERT_FALSE(first_half_left.empty());
  EXPECT_EQ(first_half_left.front(), MessageId{kMessages / 2 + 1});
  EXPECT_EQ(r.stats.records, std::uint64_t{kMessages + kMessages / 2});
}

TEST_F(MessageLog, SurvivesAFlippedByteAnywhereAndKeepsAPrefix) {
  open();
  auto m1 = message(1, {1});
  Appended a1 = append(m1);
  append(message(2, {1, 2}));
  ack(m1, 1, a1.position);
  append(message(3, {2}));
  close();
  const Bytes original = fs_->contents(seg(1));

  // Every single-byte corruption: recovery neither crashes nor invents messages; queue 2
  // keeps a prefix of what it had.
  for (std::size_t at = 0; at < original.size(); ++at) {
    fs_ = std::make_shared<MemFs>();
    fs_->put(seg(1), original);
    fs_->flip_byte(seg(1), at);
    Recovered r = open();
    std::vector<MessageId> q2 = ids_of(r, 2);
    close();
    std::vector<MessageId> full = {2, 3};
    ASSERT_LE(q2.size(), full.size()) << "byte " << at;
    EXPECT_TRUE(std::equal(q2.begin(), q2.end(), full.begin())) << "byte " << at;
    EXPECT_GT(r.stats.bytes_dropped, 0u) << "byte " << at;
  }
}

}  // namespace
}  // namespace sluice::store::tests
