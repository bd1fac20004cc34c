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
  const store::MessageId stored_id = message->store_id;
  const store::Position position = message->position;
  ready_.push_back(QueueEntry{std::move(message), next_seq_++, false, stored_id, position});
  ++stats_.published;
  page_out();
  dispatch();
}

void Queue::restore(store::MessageId id, const store::Position& position) {
  // After a restart nobody can tell whether it was delivered before: say it may have been.
  ready_.push_back(QueueEntry{nullptr, next_seq_++, true, id, position});
  ++paged_out_;
}

// Keeps the first resident_limit_ ready messages in memory and drops the in-memory copy of
// later ones once their log record is durable. The cursor makes this O(1) per enqueue.
void Queue::page_out() {
  if (!stores_messages() || ready_.size() <= resident_limit_) return;
  const store::Lsn durable = log_->durable_lsn();
  auto it = ready_.begin() + static_cast<std::ptrdiff_t>(resident_limit_);
  if (it->seq < page_cursor_seq_) {
    it = std::lower_bound(it, ready_.end(), page_cursor_seq_,
                          [](const QueueEntry& e, std::uint64_t seq) { return e.seq < seq; });
  }
  for (; it != ready_.end(); ++it) {
    if (!it->message || it->stored_id == 0) continue;  // paged already, or transient
    if (it->message->lsn > durable) break;             // not on disk yet, nor what follows
    it->message.reset();
    ++paged_out_;
  }
  page_cursor_seq_ = it == ready_.end() ? next_seq_ : it->seq;
}

bool Queue::take_front(QueueEntry& out) {
  QueueEntry entry = std::move(ready_.front());
  ready_.pop_front();
  if (!entry.message) {
    --paged_out_;
    auto loaded = load_message(*log_, entry.stored_id, entry.position);
    if (!loaded) {
      log::get("store")->error("queue={} message={} cannot be read back, dropping it: {}",
                               name(), entry.stored_id, loaded.error().detail);
      record_ack(entry);
      return false;
    }
    entry.message = std::move(*loaded);
  }
  out = std::move(entry);
  return true;
}

// Acks of persistent messages go to the log; losing one in a crash only means a redelivery,
// so nothing waits for it to reach the disk.
void Queue::record_ack(const QueueEntry& entry) {
  if (entry.stored_id == 0 || !stores_messages()) return;
  if (auto r = log_->append_ack(entry.stored_id, settings_.store_id, entry.position); !r) {
    log::get("store")->error("queue={} cannot record ack of message {}: {}", name(),
                             entry.stored_id, r.error().detail);
  }
}

void Queue::record_purge() {
  if (!stores_messages()) return;
  std::vector<store::Position> held;
  for (const QueueEntry& e : ready_) {
    if (e.stored_id != 0) held.push_back(e.position);
  }
  if (held.empty()) return;
  if (auto r = log_->append_purge(settings_.store_id, held); !r) {
    log::get("store")->error("queue={} cannot record purge: {}", name(), r.error().detail);
  }
}

std::optional<QueueEntry> Queue::get(bool track) {
  QueueEntry entry;
  do {
    if (ready_.empty()) return std::nullopt;
  } while (!take_front(entry));
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
  paged_out_ = 0;
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
    QueueEntry entry;
    if (!take_front(entry)) continue;
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
