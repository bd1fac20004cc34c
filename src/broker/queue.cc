#include "broker/queue.h"

#include <algorithm>

#include "common/assert.h"
#include "common/logging.h"
#include "store/message_log.h"

namespace sluice::broker {

Queue::Queue(QueueSettings settings)
    : BindingTarget(Kind::Queue), settings_(std::move(settings)) {}

bool Queue::has_exclusive_consumer() const {
  return std::any_of(consumers_.begin(), consumers_.end(),
                     [](const Consumer* c) { return c->exclusive; });
}

void Queue::enqueue(MessagePtr message) {
  ready_.push_back(QueueEntry{std::move(message), next_seq_++, false});
  ++stats_.published;
  dispatch();
}

void Queue::restore(MessagePtr message) {
  // After a restart nobody can tell whether it was delivered before: say it may have been.
  ready_.push_back(QueueEntry{std::move(message), next_seq_++, true});
}

// Acks of persistent messages go to the log; losing one in a crash only means a redelivery,
// so nothing waits for it to reach the disk.
void Queue::record_ack(const QueueEntry& entry) {
  const Message& m = *entry.message;
  if (m.store_id == 0 || !stores_messages()) return;
  if (auto r = log_->append_ack(m.store_id, settings_.store_id, m.position); !r) {
    log::get("store")->error("queue={} cannot record ack of message {}: {}", name(), m.store_id,
                             r.error().detail);
  }
}

void Queue::record_purge() {
  if (!stores_messages()) return;
  std::vector<store::Position> held;
  for (const QueueEntry& e : ready_) {
    if (e.message->store_id != 0) held.push_back(e.message->position);
  }
  if (held.empty()) return;
  if (auto r = log_->append_purge(settings_.store_id, held); !r) {
    log::get("store")->error("queue={} cannot record purge: {}", name(), r.error().detail);
  }
}

std::optional<QueueEntry> Queue::get(bool track) {
  if (ready_.empty()) return std::nullopt;
  QueueEntry entry = std::move(ready_.front());
  ready_.pop_front();
  if (!track) record_ack(entry);
  if (track) ++unacked_;
  ++stats_.delivered;
  if (entry.redelivered) ++stats_.redelivered;
  return entry;
}

void Queue::settle(const QueueEntry& entry) {
  BROKER_ASSERT(unacked_ > 0);
  --unacked_;
  ++stats_.acked;
  record_ack(entry);
}

void Queue::requeue(std::vector<QueueEntry> entries) {
  BROKER_ASSERT(unacked_ >= entries.size());
  unacked_ -= entries.size();
  if (deleted_) {
    // The queue is gone; its purge record did not cover messages that were out on channels.
    for (const auto& e : entries) record_ack(e);
    return;
  }
  std::sort(entries.begin(), entries.end(),
            [](const QueueEntry& a, const QueueEntry& b) { return a.seq < b.seq; });
  // Requeued messages are usually older than everything ready, so walk from the front.
  auto pos = ready_.begin();
  for (auto& e : entries) {
    e.redelivered = true;
    pos = std::lower_bound(pos, ready_.end(), e.seq,
                           [](const QueueEntry& q, std::uint64_t seq) { return q.seq < seq; });
    pos = ready_.insert(pos, std::move(e)) + 1;
  }
  dispatch();
}

void Queue::add_consumer(Consumer* consumer) {
  // Keep consumers ordered by priority; equal priorities in arrival order.
  auto pos = std::upper_bound(consumers_.begin(), consumers_.end(), consumer,
                              [](const Consumer* a, const Consumer* b) {
                                return a->priority > b->priority;
                              });
  consumers_.insert(pos, consumer);
  had_consumers_ = true;
  dispatch();
}

bool Queue::remove_consumer(Consumer* consumer) {
  auto it = std::find(consumers_.begin(), consumers_.end(), consumer);
  if (it == consumers_.end()) return false;
  consumers_.erase(it);
  if (round_robin_ >= consumers_.size()) round_robin_ = 0;
  return consumers_.empty() && settings_.auto_delete && had_consumers_ && !deleted_;
}

std::size_t Queue::purge() {
  const std::size_t n = ready_.size();
  record_purge();
  ready_.clear();
  return n;
}

std::size_t Queue::mark_deleted() {
  deleted_ = true;
  const std::size_t n = purge();
  // Sinks remove consumers from their channels; detach first so they need not call back.
  std::vector<Consumer*> consumers;
  consumers.swap(consumers_);
  for (Consumer* c : consumers) c->sink->cancelled_by_queue(*c);
  return n;
}

Consumer* Queue::next_consumer() {
  // Highest priority first: scan one priority level round-robin, then the next level down.
  std::size_t level_begin = 0;
  while (level_begin < consumers_.size()) {
    const std::int64_t level = consumers_[level_begin]->priority;
    std::size_t level_end = level_begin;
    while (level_end < consumers_.size() && consumers_[level_end]->priority == level) {
      ++level_end;
    }
    const std::size_t width = level_end - level_begin;
    for (std::size_t i = 0; i < width; ++i) {
      const std::size_t idx = level_begin + (round_robin_ + i) % width;
      Consumer* c = consumers_[idx];
      if (c->sink->can_accept(*c)) {
        round_robin_ = (idx - level_begin + 1) % width;
        return c;
      }
    }
    level_begin = level_end;
  }
  return nullptr;
}

void Queue::dispatch() {
  // A delivery can trigger an ack on the same stack (no-ack consumers settle at once);
  // the outer loop picks up whatever that made possible.
  if (dispatching_ || deleted_) return;
  dispatching_ = true;
  while (!ready_.empty()) {
    Consumer* c = next_consumer();
    if (c == nullptr) break;
    QueueEntry entry = std::move(ready_.front());
    ready_.pop_front();
    ++stats_.delivered;
    if (entry.redelivered) ++stats_.redelivered;
    if (c->no_ack) {
      record_ack(entry);
    } else {
      ++unacked_;
    }
    c->sink->deliver(*c, shared_from_this(), std::move(entry));
  }
  dispatching_ = false;
}

}  // namespace sluice::broker
