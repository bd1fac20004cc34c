#include "broker/queue.h"

#include <algorithm>
#include <map>

#include "common/assert.h"
#include "common/log_budget.h"
#include "common/logging.h"
#include "store/errc.h"
#include "store/message_log.h"
#include "store/page_reader.h"

namespace sluice::broker {

Queue::Queue(QueueSettings settings) : BindingTarget(Kind::Queue), settings_(std::move(settings)) {}

Queue::~Queue() = default;

bool Queue::has_exclusive_consumer() const {
  return std::any_of(consumers_.begin(), consumers_.end(),
                     [](const Consumer* c) { return c->exclusive; });
}

void Queue::attach_log(store::MessageLog* log) {
  log_ = log;
  reader_ = log ? std::make_unique<store::PageReader>(*log) : nullptr;
}

void Queue::enqueue(MessagePtr message) {
  QueueEntry entry{.message = std::move(message), .seq = next_seq_++};
  if (stores_messages() && entry.message->store_id != 0) {
    entry.stored_id = entry.message->store_id;
    entry.position = entry.message->position;
    entry.lsn = entry.message->lsn;
  }
  ++stats_.published;
  push_back(std::move(entry));
  dispatch();
}

void Queue::restore(std::vector<store::OffsetRun> runs, std::uint64_t delivered_before,
                    store::MessageId delivered_upto) {
  BROKER_ASSERT(empty());
  delivered_upto_ = delivered_upto;
  paged_first_seq_ = next_seq_;
  for (auto& run : runs) {
    if (run.offsets.empty()) continue;
    paged_count_ += run.offsets.size();
    next_seq_ += run.offsets.size();
    if (delivered_before > 0 && delivered_before < run.offsets.size()) {
      // The first messages of this run were delivered before, the rest were not.
      const auto split = run.offsets.begin() + static_cast<std::ptrdiff_t>(delivered_before);
      store::OffsetRun fresh{run.segment, std::vector<std::uint32_t>(split, run.offsets.end())};
      run.offsets.erase(split, run.offsets.end());
      paged_.push_back(PagedRun{.run = std::move(run), .redelivered = true});
      paged_.push_back(PagedRun{.run = std::move(fresh), .redelivered = false});
      delivered_before = 0;
      continue;
    }
    const bool redelivered = delivered_before > 0;
    delivered_before -= redelivered ? run.offsets.size() : 0;
    paged_.push_back(PagedRun{.run = std::move(run), .redelivered = redelivered});
  }
}

void Queue::push_back(QueueEntry entry) {
  // Settle tail_ first: entries that may go back to head_ do, so that this one is not
  // written out only to be kept in memory after all.
  if (!tail_.empty()) page_out();
  if (log_ == nullptr || (paged_count_ == 0 && tail_.empty() && head_.size() < resident_limit_)) {
    head_.push_back(std::move(entry));
    return;
  }
  if (!entry.in_log()) write_paged_copy(entry);
  tail_.push_back(std::move(entry));
  page_out();
}

// A message that is not in the log for this queue (transient, or the queue does not store
// messages) gets a Paged record of its own, so that it can leave memory like the others.
void Queue::write_paged_copy(QueueEntry& entry) {
  const Message& m = *entry.message;
  auto appended = log_->append_paged(store::MessageRecord{.exchange = m.exchange,
                                                          .routing_key = m.routing_key,
                                                          .properties = m.encoded_header,
                                                          .body = m.body});
  if (!appended) {
    // It stays in memory, and so does everything behind it, to keep the order.
    if (!paging_failed_) {
      log::get("store")->error("queue={} cannot page messages out, keeping them in memory: {}",
                               name(), appended.error().detail);
      paging_failed_ = true;
    }
    return;
  }
  entry.paged_copy = true;
  entry.position = appended->position;
  entry.lsn = appended->lsn;
}

// Moves tail_ entries whose records are durable into paged_, in order, dropping the message
// from memory. While nothing is paged out and head_ has room, they go back to head_ instead.
void Queue::page_out() {
  while (paged_count_ == 0 && !tail_.empty() && head_.size() < resident_limit_) {
    head_.push_back(std::move(tail_.front()));
    tail_.pop_front();
  }
  if (tail_.empty()) return;
  const store::Lsn durable = log_->durable_lsn();
  while (!tail_.empty()) {
    const QueueEntry& e = tail_.front();
    if (!e.in_log() || e.lsn > durable) break;  // not on disk yet, nor what follows
    // paged_ holds consecutive seqs: nothing before the tail can be enqueued behind it.
    BROKER_ASSERT(paged_count_ == 0 || e.seq == paged_first_seq_ + paged_count_);
    if (paged_count_ == 0) paged_first_seq_ = e.seq;
    add_paged(e.position.segment, e.position.offset, e.redelivered);
    tail_.pop_front();
  }
}

void Queue::add_paged(store::SegmentId segment, std::uint32_t offset, bool redelivered) {
  if (paged_.empty() || paged_.back().run.segment != segment ||
      paged_.back().redelivered != redelivered) {
    if (!paged_.empty()) paged_.back().run.offsets.shrink_to_fit();
    paged_.push_back(PagedRun{.run = {.segment = segment}, .redelivered = redelivered});
  }
  paged_.back().run.offsets.push_back(offset);
  ++paged_count_;
}

Queue::Take Queue::take_front(QueueEntry& out) {
  if (!head_.empty()) {
    out = std::move(head_.front());
    head_.pop_front();
    if (paged_count_ == 0 && !tail_.empty()) page_out();  // refill head_ from tail_
    return Take::Taken;
  }
  if (paged_count_ > 0) return take_paged(out);
  out = std::move(tail_.front());
  tail_.pop_front();
  return Take::Taken;
}

Queue::Take Queue::take_paged(QueueEntry& out) {
  PagedRun& run = paged_.front();
  const store::SegmentId segment = run.run.segment;
  const std::uint32_t offset = run.run.offsets[run.next];
  auto back = reader_->read(segment, offset);
  Result<MessagePtr> message = back ? message_from_store(std::move(back->message), back->position)
                                    : Result<MessagePtr>(back.error());
  const bool corrupt = !message && message.error().code == store::errc::corrupt;
  if (!message && !corrupt) {
    // Not readable now (out of file descriptors, an I/O error): the message stays first in
    // line, and the queue tries again at its next event or the broker's next retry tick.
    read_stalled_ = true;
    static log::LogBudget budget(10, std::chrono::seconds(10));
    if (std::uint64_t held = 0; budget.allow(held)) {
      log::get("store")->error("queue={} segment={} offset={} cannot be read back now, will "
                               "retry: {}{}",
                               name(), segment, offset, message.error().detail,
                               log::held_back_note(held));
    }
    return Take::Unavailable;
  }
  read_stalled_ = false;
  const bool redelivered = run.redelivered;
  const std::uint64_t seq = paged_first_seq_++;
  --paged_count_;
  if (++run.next == run.run.offsets.size()) paged_.pop_front();
  if (paged_count_ == 0) {
    reader_->reset();  // frees the read-ahead buffer
    page_out();
  }
  if (corrupt) {
    // Its log reference stays taken, so the segment stays until a restart, whose recovery
    // cuts the log at the damage and says so; the message cannot be delivered.
    log::get("store")->error("queue={} segment={} offset={} is damaged, dropping the message: {}",
                             name(), segment, offset, message.error().detail);
    return Take::Dropped;
  }
  out = QueueEntry{.message = std::move(*message),
                   .seq = seq,
                   .redelivered = redelivered,
                   .paged_copy = back->paged_copy,
                   .stored_id = back->paged_copy ? 0 : back->message.id,
                   .position = back->position};
  return Take::Taken;
}

// Acks of persistent messages go to the log; losing one in a crash only means a redelivery,
// so nothing waits for it to reach the disk. A paged copy is only released.
void Queue::record_ack(const QueueEntry& entry) {
  if (entry.paged_copy) {
    log_->release_paged(entry.position);
    return;
  }
  if (entry.stored_id == 0 || !stores_messages()) return;
  if (auto r = log_->append_ack(entry.stored_id, settings_.store_id, entry.position); !r) {
    log::get("store")->error("queue={} cannot record ack of message {}: {}", name(),
                             entry.stored_id, r.error().detail);
  }
}

void Queue::track_delivery(const QueueEntry& entry) {
  if (entry.stored_id != 0 && stores_messages()) {
    outstanding_.emplace(entry.stored_id, entry.position);
  }
}

void Queue::note_delivered(const QueueEntry& entry) {
  if (entry.stored_id != 0 && stores_messages()) {
    delivered_upto_ = std::max(delivered_upto_, entry.stored_id);
  }
}

void Queue::untrack_delivery(const QueueEntry& entry) {
  if (entry.stored_id != 0) outstanding_.erase(entry.stored_id);
}

// Releases every log record the ready messages hold: one purge record for a durable queue
// (naming the messages out for delivery, which a purge keeps), nothing written for another
// (it holds paged copies only).
void Queue::release_all(bool keep_outstanding) {
  if (log_ == nullptr) return;
  std::map<store::SegmentId, std::uint64_t> by_segment;
  auto count = [&](const QueueEntry& e) {
    if (e.paged_copy || (e.stored_id != 0 && stores_messages())) ++by_segment[e.position.segment];
  };
  for (const QueueEntry& e : head_) count(e);
  for (const QueueEntry& e : tail_) count(e);
  for (const PagedRun& r : paged_) by_segment[r.run.segment] += r.run.offsets.size() - r.next;
  std::vector<store::HeldMessage> held;
  if (keep_outstanding && stores_messages()) {
    for (const auto& [id, position] : outstanding_) {
      held.push_back({id, position.segment, position.offset});
    }
    std::sort(held.begin(), held.end(),
              [](const store::HeldMessage& a, const store::HeldMessage& b) { return a.id < b.id; });
  }
  if (by_segment.empty() && held.empty()) return;
  std::vector<store::SegmentRefs> dropped;
  for (auto [segment, n] : by_segment) dropped.push_back({segment, n});
  if (!stores_messages()) {
    log_->release_paged(dropped);
  } else if (auto r = log_->append_purge(settings_.store_id, dropped, held); !r) {
    log::get("store")->error("queue={} cannot record purge: {}", name(), r.error().detail);
  }
}

std::optional<QueueEntry> Queue::get(bool track) {
  QueueEntry entry;
  for (Take t = Take::Dropped; t != Take::Taken;) {
    if (empty()) return std::nullopt;
    t = take_front(entry);
    if (t == Take::Unavailable) return std::nullopt;
  }
  note_delivered(entry);
  if (track) {
    ++unacked_;
    track_delivery(entry);
  } else {
    record_ack(entry);
  }
  ++stats_.delivered;
  if (entry.redelivered) ++stats_.redelivered;
  return entry;
}

void Queue::settle(const QueueEntry& entry) {
  BROKER_ASSERT(unacked_ > 0);
  --unacked_;
  untrack_delivery(entry);
  ++stats_.acked;
  record_ack(entry);
}

void Queue::requeue(std::vector<QueueEntry> entries) {
  BROKER_ASSERT(unacked_ >= entries.size());
  unacked_ -= entries.size();
  for (const auto& e : entries) untrack_delivery(e);
  if (deleted_) {
    // The queue is gone; its purge record did not cover messages that were out on channels.
    for (const auto& e : entries) record_ack(e);
    return;
  }
  std::sort(entries.begin(), entries.end(),
            [](const QueueEntry& a, const QueueEntry& b) { return a.seq < b.seq; });
  // Requeued messages are usually older than everything ready, so walk from the front. They
  // are older than everything in paged_ and tail_ (see the header), so head_ is their place.
  auto pos = head_.begin();
  for (auto& e : entries) {
    e.redelivered = true;
    pos = std::lower_bound(pos, head_.end(), e.seq,
                           [](const QueueEntry& q, std::uint64_t seq) { return q.seq < seq; });
    pos = head_.insert(pos, std::move(e)) + 1;
  }
  dispatch();
}

void Queue::add_consumer(Consumer* consumer) {
  // Keep consumers ordered by priority; equal priorities in arrival order.
  auto pos = std::upper_bound(
      consumers_.begin(), consumers_.end(), consumer,
      [](const Consumer* a, const Consumer* b) { return a->priority > b->priority; });
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

std::size_t Queue::purge() { return drop_ready(true); }

std::size_t Queue::drop_ready(bool keep_outstanding) {
  const std::size_t n = message_count();
  release_all(keep_outstanding);
  head_.clear();
  paged_.clear();
  tail_.clear();
  paged_count_ = 0;
  if (reader_) reader_->reset();
  return n;
}

std::size_t Queue::mark_deleted() {
  deleted_ = true;
  // Messages out for delivery are not kept: the queue is gone, and so are they at a restart.
  const std::size_t n = drop_ready(false);
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
  while (!empty()) {
    Consumer* c = next_consumer();
    if (c == nullptr) break;
    QueueEntry entry;
    const Take taken = take_front(entry);
    if (taken == Take::Unavailable) break;
    if (taken == Take::Dropped) continue;
    note_delivered(entry);
    ++stats_.delivered;
    if (entry.redelivered) ++stats_.redelivered;
    if (c->no_ack) {
      record_ack(entry);
    } else {
      ++unacked_;
      track_delivery(entry);
    }
    c->sink->deliver(*c, shared_from_this(), std::move(entry));
  }
  dispatching_ = false;
}

}  // namespace sluice::broker
