#include "broker/queue.h"

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

MessagePtr make_message(std::string body) {
  auto m = std::make_shared<Message>();
  m->body.assign(body.begin(), body.end());
  return m;
}

std::string body_of(const QueueEntry& e) {
  return std::string(e.message->body.begin(), e.message->body.end());
}

// Records deliveries; accepts up to `capacity` unacked messages per consumer.
class RecordingSink : public ConsumerSink {
 public:
  bool can_accept(const Consumer& c) const override {
    return capacity == 0 || c.unacked < capacity;
  }
  void deliver(Consumer& c, const std::shared_ptr<Queue>&, QueueEntry entry) override {
    if (!c.no_ack) ++c.unacked;
    deliveries.emplace_back(c.tag, std::move(entry));
  }
  void cancelled_by_queue(Consumer& c) override { cancelled.push_back(c.tag); }

  std::uint32_t capacity = 0;
  std::vector<std::pair<std::string, QueueEntry>> deliveries;
  std::vector<std::string> cancelled;
};

QueuePtr make_queue() { return std::make_shared<Queue>(QueueSettings{.name = "q"}); }

TEST(Queue, GetReturnsMessagesInOrder) {
  auto q = make_queue();
  q->enqueue(make_message("a"));
  q->enqueue(make_message("b"));
  EXPECT_EQ(q->message_count(), 2u);
  EXPECT_EQ(body_of(*q->get(true)), "a");
  EXPECT_EQ(body_of(*q->get(false)), "b");
  EXPECT_FALSE(q->get(true).has_value());
  EXPECT_EQ(q->unacked_count(), 1u);
}

TEST(Queue, RequeuePutsMessagesBackInOriginalPositionMarkedRedelivered) {
  auto q = make_queue();
  for (const char* b : {"1", "2", "3", "4"}) q->enqueue(make_message(b));
  auto first = *q->get(true);
  auto second = *q->get(true);
  auto third = *q->get(true);
  // Returned out of order: they still go back in publish order, ahead of "4".
  q->requeue({third, first});
  q->requeue({second});
  std::vector<std::string> order;
  std::vector<bool> redelivered;
  while (auto e = q->get(false)) {
    order.push_back(body_of(*e));
    redelivered.push_back(e->redelivered);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(redelivered, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(q->unacked_count(), 0u);
}

TEST(Queue, RoundRobinsAmongConsumersOfEqualPriority) {
  auto q = make_queue();
  RecordingSink sink;
  Consumer a{.tag = "a", .sink = &sink, .no_ack = true};
  Consumer b{.tag = "b", .sink = &sink, .no_ack = true};
  q->add_consumer(&a);
  q->add_consumer(&b);
  for (int i = 0; i < 4; ++i) q->enqueue(make_message("m"));
  ASSERT_EQ(sink.deliveries.size(), 4u);
  EXPECT_EQ(sink.deliveries[0].first, "a");
  EXPECT_EQ(sink.deliveries[1].first, "b");
  EXPECT_EQ(sink.deliveries[2].first, "a");
  EXPECT_EQ(sink.deliveries[3].first, "b");
}

TEST(Queue, HigherPriorityConsumersGoFirstWhileTheyHaveCapacity) {
  auto q = make_queue();
  RecordingSink sink;
  sink.capacity = 2;
  Consumer low{.tag = "low", .sink = &sink, .priority = 0};
  Consumer high{.tag = "high", .sink = &sink, .priority = 10};
  q->add_consumer(&low);
  q->add_consumer(&high);
  for (int i = 0; i < 5; ++i) q->enqueue(make_message("m"));
  ASSERT_EQ(sink.deliveries.size(), 4u);  // 2 each, one left waiting
  EXPECT_EQ(sink.deliveries[0].first, "high");
  EXPECT_EQ(sink.deliveries[1].first, "high");
  EXPECT_EQ(sink.deliveries[2].first, "low");
  EXPECT_EQ(q->message_count(), 1u);
}

TEST(Queue, AutoDeleteOnlyAfterLastConsumerLeaves) {
  auto q = std::make_shared<Queue>(QueueSettings{.name = "q", .auto_delete = true});
  RecordingSink sink;
  Consumer a{.tag = "a", .sink = &sink};
  Consumer b{.tag = "b", .sink = &sink};
  q->add_consumer(&a);
  q->add_consumer(&b);
  EXPECT_FALSE(q->remove_consumer(&a));
  EXPECT_TRUE(q->remove_consumer(&b));
}

TEST(Queue, DeletionCancelsConsumers) {
  auto q = make_queue();
  RecordingSink sink;
  Consumer a{.tag = "a", .sink = &sink};
  q->add_consumer(&a);
  q->enqueue(make_message("x"));
  sink.capacity = 1;
  q->enqueue(make_message("y"));
  EXPECT_EQ(q->mark_deleted(), 1u);
  EXPECT_EQ(sink.cancelled, (std::vector<std::string>{"a"}));
  EXPECT_EQ(q->consumer_count(), 0u);
}

}  // namespace
}  // namespace sluice::broker
