#pragma once

// Queue: an ordered store of messages and the consumers that drain it.
//
// Owned by its VirtualHost (shared_ptr, so that deliveries still unacked on channels keep a
// deleted queue's object alive until they are settled). Used only on the broker loop.
//
// Ordering: every enqueued message gets a sequence number. Requeued messages go back to their
// original position, by sequence number, as RabbitMQ's classic queues do, and carry the
// redelivered flag from then on.
//
// Dispatch: consumers of the highest x-priority that can accept a message get it, round-robin
// among equals. dispatch() runs after every change that might let a message move.
//
// Memory: ready messages are in three parts, in queue order. head_ holds up to the resident
// limit in memory. Once it is full, new messages go to tail_, each with a record in the
// message log (its own, if persistent in a durable queue, else a Paged copy the queue writes);
// once that record is durable the message leaves memory for paged_, which keeps 4 bytes per
// message (store::OffsetRun). Deliveries take head_, then paged_ (read back through a
// read-ahead buffer), then tail_. Requeued messages go back into head_: they are older than
// every message never delivered, and only those are in paged_ and tail_.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "amqp/field_table.h"
#include "broker/consumer.h"
#include "broker/message.h"
#include "broker/routing/router.h"
#include "common/result.h"

namespace sluice::store {
class MessageLog;
class PageReader;
}  // namespace sluice::store

namespace sluice::broker {

struct QueueSettings {
  std::string name;
  bool durable = false;
  bool exclusive = false;
  bool auto_delete = false;
  std::uint64_t owner_connection = 0;  // for exclusive queues
  amqp::FieldTable arguments;
  std::uint64_t store_id = 0;  // id in the durable store; 0 when not stored
};

// Counters for the management API; plain integers, read on the broker loop.
struct QueueStats {
  std::uint64_t published = 0;
  std::uint64_t delivered = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t acked = 0;
};

class Queue : public BindingTarget, public std::enable_shared_from_this<Queue> {
 public:
  explicit Queue(QueueSettings settings);
  ~Queue();

  const QueueSettings& settings() const { return settings_; }
  QueueSettings& mutable_settings() { return settings_; }
  const std::string& name() const { return settings_.name; }
  bool deleted() const { return deleted_; }

  std::size_t message_count() const { return head_.size() + paged_count_ + tail_.size(); }
  std::size_t unacked_count() const { return unacked_; }
  std::size_t consumer_count() const { return consumers_.size(); }
  bool has_exclusive_consumer() const;
  const QueueStats& stats() const { return stats_; }

  // Every queue pages long backlogs out to the log; a durable one also records acks and purges
  // of its persistent messages there.
  void attach_log(store::MessageLog* log);
  bool stores_messages() const { return log_ != nullptr && settings_.store_id != 0; }
  // Recovery: messages that were in this queue before the restart, left on disk. The first
  // `delivered_before` of them may have been delivered before and carry the redelivered flag;
  // `delivered_upto` is the highest message id the queue had delivered (see FORMAT.md).
  // REQUIRES: nothing enqueued yet.
  void restore(std::vector<store::OffsetRun> runs, std::uint64_t delivered_before,
               store::MessageId delivered_upto);
  // The highest id of a stored message this queue has delivered; recorded at a clean stop.
  store::MessageId delivered_upto() const { return delivered_upto_; }

  // Ready messages beyond this many are paged out to the message log (see above).
  static void set_resident_limit(std::size_t messages) { resident_limit_ = messages; }
  std::size_t paged_out_count() const { return paged_count_; }
  // A paged message could not be read back (see take_paged); dispatch() tries again.
  bool read_stalled() const { return read_stalled_; }

  void enqueue(MessagePtr message);

  // Takes the head message for basic.get. `track` says the caller will ack it later.
  std::optional<QueueEntry> get(bool track);

  // A delivered message was acked (or rejected without requeue): forget it, on disk too.
  void settle(const QueueEntry& entry);
  // Puts delivered messages back at their original positions, marked redelivered.
  void requeue(std::vector<QueueEntry> entries);

  void add_consumer(Consumer* consumer);
  // Detaches a consumer. Returns true if it was the last one of an auto-delete queue, which
  // the caller must then delete.
  bool remove_consumer(Consumer* consumer);

  std::size_t purge();

  // Marks the queue deleted, cancels its consumers (through their sinks) and drops its
  // messages. Returns how many ready messages it held.
  std::size_t mark_deleted();

  // Delivers to consumers while there are messages and a consumer can take one.
  void dispatch();

 private:
  // Messages in paged_ that share a segment, in queue order.
  struct PagedRun {
    store::OffsetRun run;
    std::size_t next = 0;  // offsets before this one were read back
    bool redelivered = false;
  };

  Consumer* next_consumer();
  void record_ack(const QueueEntry& entry);
  void track_delivery(const QueueEntry& entry);
  void note_delivered(const QueueEntry& entry);
  void untrack_delivery(const QueueEntry& entry);
  std::size_t drop_ready(bool keep_outstanding);
  void release_all(bool keep_outstanding);
  bool empty() const { return head_.empty() && paged_count_ == 0 && tail_.empty(); }
  void push_back(QueueEntry entry);
  void write_paged_copy(QueueEntry& entry);
  void page_out();
  void add_paged(store::SegmentId segment, std::uint32_t offset, bool redelivered);
  // Takes the first ready entry, reading it back if it was paged out. A paged message that
  // cannot be read now (Unavailable) stays first; one whose record is damaged is Dropped.
  enum class Take { Taken, Dropped, Unavailable };
  Take take_front(QueueEntry& out);
  Take take_paged(QueueEntry& out);

  QueueSettings settings_;
  std::deque<QueueEntry> head_;
  std::deque<PagedRun> paged_;
  std::deque<QueueEntry> tail_;
  std::size_t paged_count_ = 0;
  std::uint64_t paged_first_seq_ = 0;  // the seq of paged_'s next message
  std::unique_ptr<store::PageReader> reader_;
  // Stored messages out for delivery and not acked, by message id: a purge's log record
  // lists them as still held, so that a restart does not lose them.
  std::unordered_map<store::MessageId, store::Position> outstanding_;
  store::MessageId delivered_upto_ = 0;
  bool paging_failed_ = false;        // logged once
  bool read_stalled_ = false;
  std::vector<Consumer*> consumers_;  // sorted by priority, highest first
  std::size_t round_robin_ = 0;
  std::uint64_t next_seq_ = 1;
  std::size_t unacked_ = 0;
  bool had_consumers_ = false;
  bool deleted_ = false;
  bool dispatching_ = false;
  QueueStats stats_;
  store::MessageLog* log_ = nullptr;
  static inline std::size_t resident_limit_ = 10000;
};

using QueuePtr = std::shared_ptr<Queue>;

}  // namespace sluice::broker
