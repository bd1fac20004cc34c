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

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "amqp/field_table.h"
#include "broker/consumer.h"
#include "broker/message.h"
#include "broker/routing/router.h"
#include "common/result.h"

namespace sluice::store {
class MessageLog;
}

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

  const QueueSettings& settings() const { return settings_; }
  QueueSettings& mutable_settings() { return settings_; }
  const std::string& name() const { return settings_.name; }
  bool deleted() const { return deleted_; }

  std::size_t message_count() const { return ready_.size(); }
  std::size_t unacked_count() const { return unacked_; }
  std::size_t consumer_count() const { return consumers_.size(); }
  bool has_exclusive_consumer() const;
  const QueueStats& stats() const { return stats_; }

  // A durable queue records acks and purges of its persistent messages in the log.
  void attach_log(store::MessageLog* log) { log_ = log; }
  bool stores_messages() const { return log_ != nullptr && settings_.store_id != 0; }
  // Recovery: a message that was in this queue before the restart, left on disk.
  void restore(store::MessageId id, const store::Position& position);

  // Ready messages beyond this many, when persistent and durable on disk, keep only their log
  // position in memory (QueueEntry without a message); they are read back when delivered.
  static void set_resident_limit(std::size_t messages) { resident_limit_ = messages; }
  std::size_t paged_out_count() const { return paged_out_; }

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
  Consumer* next_consumer();
  void record_ack(const QueueEntry& entry);
  void record_purge();
  void page_out();
  // Takes the head entry, reading its message back if it was paged out. False when the
  // message could not be read (logged; the entry is dropped so it is not retried forever).
  bool take_front(QueueEntry& out);

  QueueSettings settings_;
  std::deque<QueueEntry> ready_;
  std::vector<Consumer*> consumers_;  // sorted by priority, highest first
  std::size_t round_robin_ = 0;
  std::uint64_t next_seq_ = 1;
  std::size_t unacked_ = 0;
  bool had_consumers_ = false;
  bool deleted_ = false;
  bool dispatching_ = false;
  QueueStats stats_;
  store::MessageLog* log_ = nullptr;
  std::uint64_t page_cursor_seq_ = 0;  // entries with a lower seq were considered for paging
  std::size_t paged_out_ = 0;          // ready entries without their message in memory
  static inline std::size_t resident_limit_ = 10000;
};

using QueuePtr = std::shared_ptr<Queue>;

}  // namespace sluice::broker
