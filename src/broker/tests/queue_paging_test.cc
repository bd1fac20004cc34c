// Queue paging against a real MessageLog (over an in-memory file system): long queues keep
// only record offsets in memory, deliver in order, and release every record they held.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "amqp/properties.h"
#include "broker/broker.h"
#include "broker/queue.h"
#include "store/mem_file.h"
#include "store/message_log.h"

namespace sluice::broker {
namespace {

constexpr std::size_t kResident = 8;

MessagePtr make_message(int n, bool persistent) {
  auto m = std::make_shared<Message>();
  std::string body = "m" + std::to_string(n);
  m->body.assign(body.begin(), body.end());
  m->exchange = "ex";
  m->routing_key = "rk";
  amqp::ContentHeader header{.body_size = m->body.size()};
  if (persistent) header.properties.delivery_mode = 2;
  m->properties = header.properties;
  ByteWriter w(m->encoded_header);
  amqp::encode_content_header(w, header);
  return m;
}

std::string body_of(const QueueEntry& e) {
  return std::string(e.message->body.begin(), e.message->body.end());
}

class QueuePaging : public ::testing::Test {
 protected:
  void SetUp() override {
    Queue::set_resident_limit(kResident);
    store::MessageLogOptions options;
    options.segment_size = 4096;
    log_ = std::make_unique<store::MessageLog>(options);
    ASSERT_TRUE(log_->open(std::make_unique<store::MemDirectory>(fs_)).ok());
  }
  void TearDown() override {
    Queue::set_resident_limit(10000);
    (void)log_->close();
  }

  QueuePtr make_queue(std::uint64_t store_id) {
    auto q = std::make_shared<Queue>(
        QueueSettings{.name = "q", .durable = store_id != 0, .store_id = store_id});
    q->attach_log(log_.get());
    return q;
  }

  // What Channel::persist does for a persistent message routed to a durable queue.
  MessagePtr persisted(int n, store::QueueId queue) {
    auto m = std::const_pointer_cast<Message>(make_message(n, true));
    std::vector<store::QueueId> ids{queue};
    auto a = log_->append_message(store::MessageRecord{.id = static_cast<store::MessageId>(n),
                                                       .queues = ids,
                                                       .exchange = m->exchange,
                                                       .routing_key = m->routing_key,
                                                       .properties = m->encoded_header,
                                                       .body = m->body});
    EXPECT_TRUE(a.ok());
    m->store_id = static_cast<store::MessageId>(n);
    m->position = a->position;
    m->lsn = a->lsn;
    return m;
  }

  void wait_durable() {
    const store::Lsn want = log_->stats().records_appended;
    for (int i = 0; i < 5000 && log_->durable_lsn() < want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GE(log_->durable_lsn(), want);
  }

  std::shared_ptr<store::MemFs> fs_ = std::make_shared<store::MemFs>();
  std::unique_ptr<store::MessageLog> log_;
};

TEST_F(QueuePaging, TransientBacklogLeavesMemoryAndComesBackInOrder) {
  auto q = make_queue(0);  // not durable: every page is a Paged copy
  constexpr int kMessages = 100;
  for (int i = 1; i <= kMessages; ++i) {
    q->enqueue(make_message(i, false));
    if (i % 10 == 0) wait_durable();  // the sync thread reports while we publish
  }
  wait_durable();
  q->enqueue(make_message(kMessages + 1, false));  // paging happens on the next change
  EXPECT_EQ(q->message_count(), std::size_t{kMessages + 1});
  EXPECT_GE(q->paged_out_count(), std::size_t{kMessages - kResident - 10});
  EXPECT_GT(log_->stats().messages_appended, 0u);

  for (int i = 1; i <= kMessages + 1; ++i) {
    auto e = q->get(true);
    ASSERT_TRUE(e.has_value()) << i;
    EXPECT_EQ(body_of(*e), "m" + std::to_string(i));
    EXPECT_FALSE(e->redelivered);
    q->settle(*e);
  }
  EXPECT_EQ(q->message_count(), 0u);
  EXPECT_EQ(q->paged_out_count(), 0u);
  q->enqueue(make_message(0, false));  // roll past the old segments
  (void)log_->close();
  // Every Paged copy was released, so only the newest segment may be left.
  EXPECT_LE(log_->stats().segments, 1u);
  EXPECT_GT(log_->stats().segments_deleted, 0u);
}

TEST_F(QueuePaging, DurableQueuePagesItsOwnRecordsAndCopiesOfTransientOnes) {
  auto q = make_queue(5);
  for (int i = 1; i <= 40; ++i) {
    q->enqueue(i % 2 == 0 ? persisted(i, 5) : make_message(i, false));
  }
  wait_durable();
  q->enqueue(persisted(41, 5));
  EXPECT_GT(q->paged_out_count(), 20u);

  std::vector<QueueEntry> out;
  for (int i = 1; i <= 41; ++i) {
    auto e = q->get(true);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(body_of(*e), "m" + std::to_string(i));
    // Persistent ones are the queue's own records (acks recorded), transient ones copies.
    if (i > static_cast<int>(kResident) && i < 41) {
      EXPECT_EQ(e->paged_copy, i % 2 == 1) << i;
      EXPECT_EQ(e->stored_id != 0, i % 2 == 0) << i;
    }
    out.push_back(std::move(*e));
  }
  // Back they go, in order, ahead of anything new.
  q->enqueue(make_message(99, false));
  std::vector<QueueEntry> back(out.begin() + 10, out.begin() + 20);
  q->requeue(std::move(back));
  for (int i = 11; i <= 20; ++i) {
    auto e = q->get(false);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(body_of(*e), "m" + std::to_string(i));
    EXPECT_TRUE(e->redelivered);
  }
  EXPECT_EQ(body_of(*q->get(false)), "m99");
}

TEST_F(QueuePaging, PurgeReleasesEveryPagedRecord) {
  auto q = make_queue(0);
  for (int i = 1; i <= 60; ++i) q->enqueue(make_message(i, false));
  wait_durable();
  q->enqueue(make_message(61, false));
  ASSERT_GT(q->paged_out_count(), 0u);
  EXPECT_EQ(q->purge(), 61u);
  EXPECT_EQ(q->message_count(), 0u);
  q->enqueue(make_message(0, false));
  (void)log_->close();
  EXPECT_LE(log_->stats().segments, 1u);  // an unreleased reference would pin a segment
}

TEST_F(QueuePaging, RestoredMessagesAreRedeliveredAndAckedInTheLog) {
  auto q = make_queue(9);
  for (int i = 1; i <= 20; ++i) (void)persisted(i, 9);  // stored, not enqueued: a restart
  wait_durable();
  (void)log_->close();
  log_ = std::make_unique<store::MessageLog>(store::MessageLogOptions{.segment_size = 4096});
  auto recovered = log_->open(std::make_unique<store::MemDirectory>(fs_));
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->queues[9].messages, 20u);

  q = make_queue(9);
  const store::RecoveredQueue& r9 = recovered->queues[9];
  EXPECT_EQ(r9.delivered_before, 20u);  // no clean stop: all may have been delivered
  q->restore(std::move(recovered->queues[9].runs), r9.delivered_before, r9.delivered_upto);
  EXPECT_EQ(q->message_count(), 20u);
  EXPECT_EQ(q->paged_out_count(), 20u);
  for (int i = 1; i <= 20; ++i) {
    auto e = q->get(true);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(body_of(*e), "m" + std::to_string(i));
    EXPECT_TRUE(e->redelivered);
    if (i <= 15) q->settle(*e);
  }
  ASSERT_TRUE(log_->close().ok());
  log_ = std::make_unique<store::MessageLog>(store::MessageLogOptions{});
  auto again = log_->open(std::make_unique<store::MemDirectory>(fs_));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->queues[9].messages, 5u);  // the five never acked
}

TEST_F(QueuePaging, AMessageThatCannotBeReadNowStaysFirstInLine) {
  auto q = make_queue(5);
  for (int i = 1; i <= 30; ++i) q->enqueue(persisted(i, 5));
  wait_durable();
  q->enqueue(persisted(31, 5));
  for (std::size_t i = 0; i < kResident; ++i) ASSERT_TRUE(q->get(false).has_value());
  ASSERT_GT(q->paged_out_count(), 0u);
  const std::size_t left = q->message_count();

  // A closed log stands for any read that fails for now (EMFILE, EIO): nothing is lost.
  ASSERT_TRUE(log_->close().ok());
  EXPECT_FALSE(q->get(false).has_value());
  EXPECT_TRUE(q->read_stalled());
  EXPECT_EQ(q->message_count(), left);
}

TEST_F(QueuePaging, ADamagedRecordIsDroppedButItsSegmentIsKept) {
  auto q = make_queue(5);
  std::vector<store::Position> where;
  for (int i = 1; i <= 30; ++i) {
    auto m = persisted(i, 5);
    where.push_back(m->position);
    q->enqueue(m);
  }
  wait_durable();
  q->enqueue(persisted(31, 5));
  // Damage message 10's record on disk (paged out: past the resident window of 8).
  const store::Position hit = where[9];
  fs_->flip_byte(store::log_format::segment_file_name(hit.segment), hit.offset + hit.length - 2);
  std::vector<std::string> got;
  while (auto e = q->get(true)) {
    got.push_back(body_of(*e));
    q->settle(*e);
  }
  EXPECT_EQ(got.size(), 30u);
  EXPECT_EQ(std::find(got.begin(), got.end(), "m10"), got.end());
  q->enqueue(make_message(0, false));  // roll on
  ASSERT_TRUE(log_->close().ok());
  // The damaged message's reference was never released: its segment waits for a restart,
  // whose recovery cuts the log there and says so.
  EXPECT_TRUE(fs_->exists(store::log_format::segment_file_name(hit.segment)));
}

TEST_F(QueuePaging, AfterACleanStopOnlyMessagesDeliveredBeforeAreRedelivered) {
  auto q = make_queue(9);
  for (int i = 1; i <= 12; ++i) q->enqueue(persisted(i, 9));
  std::vector<QueueEntry> out;
  for (int i = 0; i < 5; ++i) out.push_back(*q->get(true));  // m1..m5 out, not acked
  EXPECT_EQ(q->delivered_upto(), 5u);
  q->requeue(std::move(out));
  wait_durable();
  const store::DeliveredRecord delivered[] = {{9, q->delivered_upto()}};
  ASSERT_TRUE(log_->append_clean_stop(delivered).ok());
  ASSERT_TRUE(log_->close().ok());

  log_ = std::make_unique<store::MessageLog>(store::MessageLogOptions{.segment_size = 4096});
  auto recovered = log_->open(std::make_unique<store::MemDirectory>(fs_));
  ASSERT_TRUE(recovered.ok());
  store::RecoveredQueue& r = recovered->queues[9];
  ASSERT_EQ(r.messages, 12u);
  q = make_queue(9);
  q->restore(std::move(r.runs), r.delivered_before, r.delivered_upto);
  EXPECT_EQ(q->delivered_upto(), 5u);
  for (int i = 1; i <= 12; ++i) {
    auto e = q->get(false);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(body_of(*e), "m" + std::to_string(i));
    EXPECT_EQ(e->redelivered, i <= 5) << i;
  }
}

}  // namespace
}  // namespace sluice::broker

namespace sluice::broker {
namespace {

TEST(LogFlowControl, HoldsPublishesWhileTheLogIsBehindAndReleasesThemOnce) {
  auto fs = std::make_shared<store::MemFs>();
  fs->set_sync_delay(std::chrono::milliseconds(200));
  store::MessageLog log(store::MessageLogOptions{});
  ASSERT_TRUE(log.open(std::make_unique<store::MemDirectory>(fs)).ok());
  Broker broker;
  broker.set_message_log(&log);
  broker.set_log_flow_limit(64 << 10);
  EXPECT_FALSE(broker.publish_held_by_log());

  const std::string body(100 << 10, 'b');
  const Bytes bytes(body.begin(), body.end());
  auto a = log.append_paged(store::MessageRecord{.body = bytes});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(broker.publish_held_by_log());  // 100 KiB not on disk yet, limit 64 KiB
  EXPECT_FALSE(broker.log_caught_up());

  for (int i = 0; i < 5000 && log.durable_lsn() < a->lsn; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(log.durable_lsn(), a->lsn);
  EXPECT_EQ(log.unsynced_bytes(), 0u);
  EXPECT_FALSE(broker.publish_held_by_log());
  EXPECT_TRUE(broker.log_caught_up());
  EXPECT_FALSE(broker.log_caught_up());  // once
  ASSERT_TRUE(log.close().ok());
}

}  // namespace
}  // namespace sluice::broker
