#include "store/message_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>

#include "store/errc.h"
#include "store/tests/test_util.h"

namespace sluice::store::tests {
namespace {

using testing::LogFixture;
using testing::message;
using testing::string_of;
using testing::wait_durable;

// Suite named after the class under test; store::MessageLog is the class itself.
using MessageLog = LogFixture;

TEST_F(MessageLog, ReadsMessageBackByPosition) {
  open();
  auto m = message(1, {10}, "payload");
  Appended a = append(m);
  wait_durable(*log_, a.lsn);

  auto read = log_->read_message(a.position);
  ASSERT_TRUE(read.ok()) << read.error().detail;
  EXPECT_EQ(read->id, 1u);
  EXPECT_EQ(read->queues, std::vector<QueueId>{10});
  EXPECT_EQ(read->exchange, "amq.direct");
  EXPECT_EQ(read->routing_key, "rk");
  EXPECT_EQ(read->properties, m.properties);
  EXPECT_EQ(string_of(read->body), "payload");
}

TEST_F(MessageLog, StoresBodyOnceForSeveralQueues) {
  open();
  Appended a = append(message(1, {10, 11, 12}, std::string(1000, 'b')));
  wait_durable(*log_, a.lsn);
  EXPECT_LT(a.position.length, 1100u);
  close();

  Recovered r = open();
  for (QueueId q : {10, 11, 12}) {
    auto back = read_back(r, q);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].position, a.position);
  }
}

TEST_F(MessageLog, RejectsMessageTheFormatCannotHold) {
  open();
  auto m = message(1, {10});
  m.routing_key.assign(300, 'k');
  auto a = log_->append_message(m.record());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, errc::invalid_argument);
}

TEST_F(MessageLog, RollsOverWhenSegmentIsFull) {
  options_.segment_size = 4096;
  open();
  std::vector<Appended> appended;
  for (int i = 1; i <= 20; ++i) appended.push_back(append(message(i, {1}, std::string(1000, 'x'))));
  wait_durable(*log_, appended.back().lsn);

  EXPECT_EQ(appended.front().position.segment, 1u);
  EXPECT_GE(appended.back().position.segment, 5u);
  for (const Appended& a : appended) {
    EXPECT_LE(a.position.offset + a.position.length, 4096u);
    ASSERT_TRUE(log_->read_message(a.position).ok());
  }
  EXPECT_TRUE(fs_->exists(seg(appended.back().position.segment)));
}

TEST_F(MessageLog, RecordLargerThanSegmentGetsASegmentOfItsOwn) {
  options_.segment_size = 4096;
  open();
  Appended small = append(message(1, {1}));
  Appended big = append(message(2, {1}, std::string(10000, 'x')));
  Appended after = append(message(3, {1}));
  wait_durable(*log_, after.lsn);
  EXPECT_EQ(big.position.segment, small.position.segment + 1);
  EXPECT_EQ(after.position.segment, big.position.segment + 1);
  EXPECT_EQ(string_of(log_->read_message(big.position)->body), std::string(10000, 'x'));
}

TEST_F(MessageLog, GroupCommitSharesSyncsAcrossAppends) {
  fs_->set_sync_delay(std::chrono::milliseconds(1));
  open();
  constexpr int kMessages = 5000;
  Lsn last = 0;
  for (int i = 1; i <= kMessages; ++i) last = append(message(i, {1})).lsn;
  wait_durable(*log_, last);

  LogStats s = log_->stats();
  EXPECT_EQ(s.messages_synced, std::uint64_t{kMessages});
  EXPECT_LT(s.syncs, std::uint64_t{kMessages} / 10);
  EXPECT_EQ(s.durable_lsn, last);
}

TEST_F(MessageLog, DurableCallbackReportsIncreasingLsnsUpToTheLast) {
  fs_->set_sync_delay(std::chrono::microseconds(200));
  std::mutex mu;
  std::vector<Lsn> reported;
  options_.on_durable = [&](Lsn lsn) {
    std::lock_guard lock(mu);
    reported.push_back(lsn);
  };
  open();
  Lsn last = 0;
  for (int i = 1; i <= 2000; ++i) {
    last = append(message(i, {1})).lsn;
    if (i % 100 == 0) std::this_thread::yield();
  }
  wait_durable(*log_, last);
  close();

  ASSERT_FALSE(reported.empty());
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_EQ(std::adjacent_find(reported.begin(), reported.end()), reported.end());
  EXPECT_EQ(reported.back(), last);
}

TEST_F(MessageLog, RecoversLiveMessagesInLogOrderAfterCleanClose) {
  open();
  for (int i = 1; i <= 5; ++i) append(message(i, {i % 2 == 0 ? 2u : 1u}));
  close();

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{1, 3, 5}));
  EXPECT_EQ(ids_of(r, 2), (std::vector<MessageId>{2, 4}));
  EXPECT_EQ(r.max_message_id, 5u);
  EXPECT_EQ(r.stats.live_messages, 5u);
  EXPECT_EQ(r.stats.bytes_dropped, 0u);
  for (const ReadBack& m : read_back(r, 1)) {
    EXPECT_EQ(log_->read_message(m.position)->id, m.message.id);
  }
}

TEST_F(MessageLog, AckedMessagesAreNotRecovered) {
  open();
  auto m1 = message(1, {1, 2});
  auto m2 = message(2, {1});
  Appended a1 = append(m1);
  Appended a2 = append(m2);
  ack(m1, 1, a1.position);
  ack(m2, 1, a2.position);
  close();

  Recovered r = open();
  EXPECT_TRUE(ids_of(r, 1).empty());
  EXPECT_EQ(ids_of(r, 2), std::vector<MessageId>{1});
  EXPECT_EQ(r.max_message_id, 2u);
}

TEST_F(MessageLog, PurgeDropsEveryEarlierMessageOfTheQueueOnly) {
  open();
  std::vector<Position> held;
  for (int i = 1; i <= 3; ++i) held.push_back(append(message(i, {1, 2})).position);
  ASSERT_TRUE(log_->append_purge(1, refs_of(held)).ok());
  append(message(4, {1}));
  close();

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{4});
  EXPECT_EQ(ids_of(r, 2), (std::vector<MessageId>{1, 2, 3}));
}

TEST_F(MessageLog, DeletesSegmentOnceAllItsMessagesAreAcked) {
  options_.segment_size = 4096;
  open();
  std::vector<std::pair<testing::TestMessage, Appended>> sent;
  for (int i = 1; i <= 12; ++i) {
    auto m = message(i, {1}, std::string(1000, 'x'));
    sent.emplace_back(m, append(m));
  }
  SegmentId first = sent.front().second.position.segment;
  SegmentId last = sent.back().second.position.segment;
  ASSERT_GT(last, first + 1);
  wait_durable(*log_, sent.back().second.lsn);
  EXPECT_TRUE(fs_->exists(seg(first)));

  // Ack everything in the first segment: it goes; the others stay.
  Lsn lsn = 0;
  for (auto& [m, a] : sent) {
    if (a.position.segment == first) lsn = ack(m, 1, a.position);
  }
  wait_durable(*log_, lsn);
  close();  // deletion runs on the sync thread; close waits for it
  EXPECT_FALSE(fs_->exists(seg(first)));
  EXPECT_TRUE(fs_->exists(seg(first + 1)));

  Recovered r = open();
  auto back = read_back(r, 1);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(back.front().position.segment, first + 1);
  EXPECT_EQ(back.back().message.id, 12u);
}

TEST_F(MessageLog, DiskUseFollowsTheLiveBacklog) {
  options_.segment_size = 4096;
  open();
  // A steady stream where each message is acked right after the next one is published.
  std::optional<std::pair<testing::TestMessage, Appended>> previous;
  for (int i = 1; i <= 200; ++i) {
    auto m = message(i, {1}, std::string(500, 'x'));
    Appended a = append(m);
    if (previous) ack(previous->first, 1, previous->second.position);
    previous.emplace(m, a);
  }
  close();
  // Only the segments holding the one live message (and the tail) may remain.
  EXPECT_FALSE(fs_->exists(seg(1)));
  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{200});
  EXPECT_LE(log_->stats().segments, 2u);
}

TEST_F(MessageLog, KeepsSegmentWhoseAcksAnOlderLiveSegmentNeeds) {
  options_.segment_size = 4096;
  open();
  // Segment 1: m1 (stays live) and m2. Segment 2: m3, then the ack of m2 and of m3.
  auto m1 = message(1, {1}, std::string(1500, 'a'));
  auto m2 = message(2, {1}, std::string(1500, 'b'));
  auto m3 = message(3, {1}, std::string(1500, 'c'));
  Appended a1 = append(m1);
  Appended a2 = append(m2);
  Appended a3 = append(m3);
  ASSERT_EQ(a1.position.segment, 1u);
  ASSERT_EQ(a2.position.segment, 1u);
  ASSERT_EQ(a3.position.segment, 2u);
  ack(m2, 1, a2.position);
  ack(m3, 1, a3.position);
  // Roll past segment 2 so it is no longer the tail.
  auto m4 = message(4, {1}, std::string(3000, 'd'));
  append(m4);
  close();

  // Segment 2 has no live message, but deleting it would lose the ack of m2.
  EXPECT_TRUE(fs_->exists(seg(2)));
  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{1, 4}));
}

TEST_F(MessageLog, DeletesSegmentsOnceTheirQueueIsPurged) {
  options_.segment_size = 4096;
  open();
  std::vector<Position> held;
  for (int i = 1; i <= 12; ++i)
    held.push_back(append(message(i, {1}, std::string(1000, 'x'))).position);
  SegmentId last = held.back().segment;
  ASSERT_GE(last, 3u);
  auto purged = log_->append_purge(1, refs_of(held));
  ASSERT_TRUE(purged.ok());
  append(message(13, {2}, std::string(3000, 'y')));  // roll, so the purge's segment is not the tail
  close();

  for (SegmentId s = 1; s <= last; ++s) EXPECT_FALSE(fs_->exists(seg(s))) << "segment " << s;
  Recovered r = open();
  EXPECT_TRUE(ids_of(r, 1).empty());
  EXPECT_EQ(ids_of(r, 2), std::vector<MessageId>{13});
}

TEST_F(MessageLog, ReadsFromAnotherThreadWhileAppending) {
  options_.segment_size = 64 << 10;
  fs_->set_sync_delay(std::chrono::microseconds(100));
  open();
  std::mutex mu;
  std::vector<std::pair<MessageId, Appended>> durable;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      std::pair<MessageId, Appended> pick;
      {
        std::lock_guard lock(mu);
        if (durable.empty()) continue;
        pick = durable[static_cast<std::size_t>(reads.load()) % durable.size()];
      }
      auto m = log_->read_message(pick.second.position);
      ASSERT_TRUE(m.ok()) << m.error().detail;
      EXPECT_EQ(m->id, pick.first);
      ++reads;
    }
  });
  for (int i = 1; i <= 3000; ++i) {
    Appended a = append(message(i, {1}, std::string(100, 'z')));
    if (i % 100 == 0) {
      wait_durable(*log_, a.lsn);
      std::lock_guard lock(mu);
      durable.emplace_back(i, a);
    }
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
}

TEST_F(MessageLog, SyncFailureStopsDurableLsnAndReportsTheError) {
  std::atomic<int> failures{0};
  std::string detail;
  options_.on_failure = [&](const Error& e) {
    detail = e.detail;
    ++failures;
  };
  open();
  Appended good = append(message(1, {1}));
  wait_durable(*log_, good.lsn);

  fs_->fail_next_syncs(1);
  Appended bad = append(message(2, {1}));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (failures == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(failures, 1);
  EXPECT_NE(detail.find("fdatasync"), std::string::npos);
  EXPECT_EQ(log_->durable_lsn(), good.lsn);
  EXPECT_LT(log_->durable_lsn(), bad.lsn);

  auto later = log_->append_message(message(3, {1}).record());
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code, errc::failed);
  EXPECT_FALSE(log_->close().ok());
  EXPECT_EQ(failures, 1);
}

TEST_F(MessageLog, WriteFailureStopsDurableLsn) {
  open();
  Appended good = append(message(1, {1}));
  wait_durable(*log_, good.lsn);
  fs_->fail_appends(true, 5);
  append(message(2, {1}));
  EXPECT_FALSE(log_->close().ok());
  EXPECT_EQ(log_->durable_lsn(), good.lsn);
  fs_->fail_appends(false);

  // The torn half record is cut off at the next open; message 1 is still there.
  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{1});
  EXPECT_EQ(r.stats.segments_truncated, 1u);
}

TEST_F(MessageLog, AfterCrashOnlyMessagesWhoseAckWasNotDurableReturn) {
  open();
  auto m1 = message(1, {1});
  auto m2 = message(2, {1});
  Appended a1 = append(m1);
  Appended a2 = append(m2);
  Lsn acked = ack(m1, 1, a1.position);
  wait_durable(*log_, acked);

  // The second ack is appended but the sync thread cannot make it durable.
  fs_->fail_next_syncs(1000);
  ack(m2, 1, a2.position);
  (void)log_->close();
  fs_->crash();
  fs_->fail_next_syncs(0);

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), std::vector<MessageId>{2});
}

TEST_F(MessageLog, ReadOfBadPositionReportsCorruptNotCrash) {
  open();
  Appended a = append(message(1, {1}));
  wait_durable(*log_, a.lsn);
  Position off = a.position;
  off.offset += 1;
  off.length -= 1;
  auto r = log_->read_message(off);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::corrupt);

  Position future{a.position.segment, a.position.offset + a.position.length, 100};
  auto n = log_->read_message(future);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, errc::not_written);
}

TEST_F(MessageLog, WorksOnARealDirectory) {
  auto path = std::filesystem::temp_directory_path() /
              ("sluice-message-log-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  Appended a;
  {
    store::MessageLog log(MessageLogOptions{});
    ASSERT_TRUE(log.open(path.string()).ok());
    auto m = message(7, {3}, "on disk");
    auto r = log.append_message(m.record());
    ASSERT_TRUE(r.ok());
    a = *r;
    wait_durable(log, a.lsn);
    ASSERT_TRUE(log.close().ok());
  }
  EXPECT_TRUE(std::filesystem::exists(path / "messages" / log_format::segment_file_name(1)));
  {
    store::MessageLog log(MessageLogOptions{});
    auto r = log.open(path.string());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->queues[3].messages, 1u);
    const OffsetRun& run = r->queues[3].runs.at(0);
    auto m = PageReader(log).read(run.segment, run.offsets.at(0));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(string_of(m->message.body), "on disk");
  }
  std::filesystem::remove_all(path);
}

}  // namespace
}  // namespace sluice::store::tests
