// Paged records and reading paged-out messages back: what a queue relies on to keep long
// backlogs out of memory.

#include <gtest/gtest.h>

#include <algorithm>

#include "store/errc.h"
#include "store/tests/test_util.h"

namespace sluice::store::tests {
namespace {

using testing::LogFixture;
using testing::message;
using testing::string_of;
using testing::wait_durable;

using Paging = LogFixture;

// A Paged record: the same message layout, no queues.
MessageRecord paged(const testing::TestMessage& m) {
  return MessageRecord{.exchange = m.exchange,
                       .routing_key = m.routing_key,
                       .properties = m.properties,
                       .body = m.body};
}

TEST_F(Paging, PagedCopyReadsBackAndIsNotRecovered) {
  open();
  auto t = message(0, {}, "transient body");
  auto a = log_->append_paged(paged(t));
  ASSERT_TRUE(a.ok()) << a.error().detail;
  Appended kept = append(message(1, {7}));
  wait_durable(*log_, kept.lsn);

  PageReader reader(*log_);
  auto back = reader.read(a->position.segment, a->position.offset);
  ASSERT_TRUE(back.ok()) << back.error().detail;
  EXPECT_TRUE(back->paged_copy);
  EXPECT_EQ(back->position, a->position);
  EXPECT_EQ(string_of(back->message.body), "transient body");
  EXPECT_TRUE(back->message.queues.empty());

  auto own = reader.read(kept.position.segment, kept.position.offset);
  ASSERT_TRUE(own.ok());
  EXPECT_FALSE(own->paged_copy);
  EXPECT_EQ(own->message.queues, std::vector<QueueId>{7});
  close();

  Recovered r = open();
  EXPECT_EQ(r.queues.size(), 1u);  // queue 7 only: the paged copy is gone with the restart
  EXPECT_EQ(ids_of(r, 7), std::vector<MessageId>{1});
}

TEST_F(Paging, PagedRecordWithQueuesIsRefused) {
  open();
  auto m = message(1, {3});
  auto a = log_->append_paged(m.record());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, errc::invalid_argument);
}

TEST_F(Paging, ReleasedPagedCopiesLetTheirSegmentGo) {
  options_.segment_size = 4096;
  open();
  std::vector<Appended> copies;
  for (int i = 0; i < 12; ++i) {
    auto a = log_->append_paged(paged(message(0, {}, std::string(1000, 'p'))));
    ASSERT_TRUE(a.ok());
    copies.push_back(*a);
  }
  const SegmentId first = copies.front().position.segment;
  ASSERT_GT(copies.back().position.segment, first + 1);
  wait_durable(*log_, copies.back().lsn);

  // One queue delivered the first segment's copies one by one; the rest it still holds.
  std::vector<SegmentRefs> rest;
  for (const Appended& a : copies) {
    if (a.position.segment == first) {
      log_->release_paged(a.position);
    } else if (rest.empty() || rest.back().segment != a.position.segment) {
      rest.push_back({a.position.segment, 1});
    } else {
      ++rest.back().count;
    }
  }
  close();  // deletion runs on the sync thread; close waits for it
  EXPECT_FALSE(fs_->exists(seg(first)));
  EXPECT_TRUE(fs_->exists(seg(first + 1)));

  // After a restart nothing refers to paged copies: their segments go at open.
  Recovered r = open();
  EXPECT_TRUE(r.queues.empty());
  close();
  for (const SegmentRefs& held : rest) {
    EXPECT_FALSE(fs_->exists(seg(held.segment))) << "segment " << held.segment;
  }
}

TEST_F(Paging, PurgeOfPagedCopiesLetsTheirSegmentsGo) {
  options_.segment_size = 4096;
  open();
  std::vector<SegmentRefs> held;
  Lsn last = 0;
  for (int i = 0; i < 12; ++i) {
    auto a = log_->append_paged(paged(message(0, {}, std::string(1000, 'p'))));
    ASSERT_TRUE(a.ok());
    if (held.empty() || held.back().segment != a->position.segment) {
      held.push_back({a->position.segment, 0});
    }
    ++held.back().count;
    last = a->lsn;
  }
  append(message(1, {2}, std::string(3000, 'r')));  // roll, so none of them is the tail
  wait_durable(*log_, last);
  log_->release_paged(held);
  close();
  for (const SegmentRefs& h : held) {
    EXPECT_FALSE(fs_->exists(seg(h.segment))) << "segment " << h.segment;
  }
}

TEST_F(Paging, ReaderServesConsecutiveRecordsAcrossBufferEdges) {
  options_.segment_size = 1 << 20;
  open();
  std::vector<Appended> sent;
  for (int i = 1; i <= 200; ++i) {
    // Sizes from a few bytes to several buffers, so records start and end anywhere.
    const auto size = static_cast<std::size_t>(i * 37);
    sent.push_back(append(message(i, {1}, std::string(size, static_cast<char>('a' + i % 26)))));
  }
  wait_durable(*log_, sent.back().lsn);

  PageReader reader(*log_, 512);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto back = reader.read(sent[i].position.segment, sent[i].position.offset);
    ASSERT_TRUE(back.ok()) << back.error().detail;
    EXPECT_EQ(back->message.id, i + 1);
    EXPECT_EQ(back->position, sent[i].position);
    EXPECT_EQ(back->message.body.size(), (i + 1) * 37);
  }
  // Out of order too: a buffer never serves a record it does not hold whole.
  for (std::size_t i = sent.size(); i-- > 0;) {
    auto back = reader.read(sent[i].position.segment, sent[i].position.offset);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->message.id, i + 1);
  }
}

TEST_F(Paging, ReaderReportsDamageWithoutCrashing) {
  open();
  std::vector<Appended> sent;
  for (int i = 1; i <= 3; ++i) sent.push_back(append(message(i, {1}, std::string(300, 'd'))));
  close();
  fs_->flip_byte(seg(1), sent[1].position.offset + 100);
  // Open over a copy whose damage recovery has not seen: a fresh fixture would truncate it.
  Bytes damaged = fs_->contents(seg(1));
  open();
  fs_->put(seg(1), damaged);

  PageReader reader(*log_);
  EXPECT_TRUE(reader.read(1, sent[0].position.offset).ok());
  auto bad = reader.read(1, sent[1].position.offset);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, errc::corrupt);
  EXPECT_NE(bad.error().detail.find("bad checksum"), std::string::npos) << bad.error().detail;
  auto mid = reader.read(1, sent[1].position.offset + 1);  // not a record's start
  EXPECT_FALSE(mid.ok());
  auto past = reader.read(1, 1u << 30);
  EXPECT_FALSE(past.ok());
}

TEST_F(Paging, RecoveryMatchesAcksAcrossSegmentsAndQueues) {
  options_.segment_size = 4096;
  open();
  std::vector<std::pair<testing::TestMessage, Appended>> sent;
  for (int i = 1; i <= 60; ++i) {
    auto m = message(i, {1, 2}, std::string(200, 'm'));
    sent.emplace_back(m, append(m));
  }
  // Queue 1 acks every third message, queue 2 every message with an even id, in no order.
  std::vector<MessageId> left1;
  std::vector<MessageId> left2;
  for (std::size_t k = sent.size(); k-- > 0;) {
    auto& [m, a] = sent[k];
    if (m.id % 3 == 0) ack(m, 1, a.position);
    if (m.id % 2 == 0) ack(m, 2, a.position);
  }
  for (auto& [m, a] : sent) {
    if (m.id % 3 != 0) left1.push_back(m.id);
    if (m.id % 2 != 0) left2.push_back(m.id);
  }
  close();

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), left1);
  EXPECT_EQ(ids_of(r, 2), left2);
  EXPECT_EQ(r.queues[1].messages, left1.size());
  EXPECT_GT(r.queues[1].runs.size(), 1u);  // one run per segment
  EXPECT_EQ(r.stats.live_messages, left1.size() + left2.size());
}

TEST_F(Paging, RecoveryMatchesAcksEvenIfIdsDoNotGrow) {
  open();
  // Only a hand-made log has ids out of order; acks must still find their messages.
  std::vector<std::pair<testing::TestMessage, Appended>> sent;
  for (MessageId id : {50, 10, 40, 20, 30}) {
    auto m = message(id, {1});
    sent.emplace_back(m, append(m));
  }
  ack(sent[1].first, 1, sent[1].second.position);  // 10
  ack(sent[2].first, 1, sent[2].second.position);  // 40
  close();

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{50, 20, 30}));
}

TEST_F(Paging, PurgeKeepsMessagesOutForDeliveryUntilAcked) {
  options_.segment_size = 4096;
  open();
  std::vector<std::pair<testing::TestMessage, Appended>> sent;
  for (int i = 1; i <= 10; ++i) {
    auto m = message(i, {1}, std::string(700, 'h'));
    sent.emplace_back(m, append(m));
  }
  // Messages 2 and 9 are out for delivery when the queue is purged.
  std::vector<HeldMessage> held;
  std::vector<Position> dropped;
  for (auto& [m, a] : sent) {
    if (m.id == 2 || m.id == 9) {
      held.push_back({m.id, a.position.segment, a.position.offset});
    } else {
      dropped.push_back(a.position);
    }
  }
  ASSERT_TRUE(log_->append_purge(1, refs_of(dropped), held).ok());
  append(message(11, {1}));
  close();

  Recovered r = open();
  EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{2, 9, 11}));
  // Acked after the restart: then it is gone for good, and so is its segment once empty.
  auto back = read_back(r, 1);
  ASSERT_EQ(back.size(), 3u);
  ack(sent[1].first, 1, back[0].position);
  close();
  r = open();
  EXPECT_EQ(ids_of(r, 1), (std::vector<MessageId>{9, 11}));
  close();
  EXPECT_FALSE(fs_->exists(seg(sent[1].second.position.segment)));
}

TEST_F(Paging, OnlyACleanStopSaysWhichMessagesWereNeverDelivered) {
  open();
  for (int i = 1; i <= 6; ++i) append(message(i, {1}));
  for (int i = 7; i <= 9; ++i) append(message(i, {2}));
  // Queue 1 had delivered up to message 4 (none acked); queue 2 nothing.
  const DeliveredRecord delivered[] = {{1, 4}};
  ASSERT_TRUE(log_->append_clean_stop(delivered).ok());
  close();

  Recovered r = open();
  EXPECT_TRUE(r.stats.clean_stop);
  EXPECT_EQ(r.queues[1].messages, 6u);
  EXPECT_EQ(r.queues[1].delivered_before, 4u);
  EXPECT_EQ(r.queues[1].delivered_upto, 4u);
  EXPECT_EQ(r.queues[2].delivered_before, 0u);
  // This run appends, then stops without the marker (a crash): nothing is known any more.
  append(message(10, {1}));
  close();

  r = open();
  EXPECT_FALSE(r.stats.clean_stop);
  EXPECT_EQ(r.queues[1].delivered_before, 7u);
  EXPECT_EQ(r.queues[2].delivered_before, 3u);
}

TEST_F(Paging, ACleanStopSpeaksForOneRestartOnly) {
  open();
  for (int i = 1; i <= 3; ++i) append(message(i, {1}));
  const DeliveredRecord delivered[] = {{1, 1}};
  ASSERT_TRUE(log_->append_clean_stop(delivered).ok());
  close();
  Recovered r = open();
  EXPECT_TRUE(r.stats.clean_stop);
  EXPECT_EQ(r.queues[1].delivered_before, 1u);
  // This run only delivers (nothing is appended) and then crashes: the old marker must not
  // be taken for a clean stop of this run.
  close();
  r = open();
  EXPECT_FALSE(r.stats.clean_stop);
  EXPECT_EQ(r.queues[1].delivered_before, 3u);
}

TEST_F(Paging, ACleanStopMarkerCutOffIsACrash) {
  open();
  for (int i = 1; i <= 3; ++i) append(message(i, {1}));
  const DeliveredRecord delivered[] = {{1, 1}};
  ASSERT_TRUE(log_->append_clean_stop(delivered).ok());
  close();
  fs_->cut(seg(1), fs_->contents(seg(1)).size() - 1);  // the marker is torn

  Recovered r = open();
  EXPECT_FALSE(r.stats.clean_stop);
  EXPECT_EQ(r.queues[1].delivered_before, 3u);
}

}  // namespace
}  // namespace sluice::store::tests
