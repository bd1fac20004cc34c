#pragma once

// Consumer: a subscription of a channel to a queue (basic.consume).
//
// The channel owns its consumers; a queue holds plain pointers to the consumers attached to
// it, and the channel detaches each one (Queue::remove_consumer) before destroying it. The
// ConsumerSink is how a queue hands a message over without knowing what a channel is.

#include <cstdint>
#include <memory>
#include <string>

#include "broker/message.h"

namespace sluice::broker {

class Queue;
struct Consumer;

// A message in a queue or out for delivery: the message, its place in the queue (for requeue
// in the original order), whether it was delivered before, and the log record the queue holds
// a reference to, which an ack or a purge releases. That record is either the message's own
// (a persistent message of a durable queue: stored_id is set and an ack is recorded) or a
// copy the queue wrote to page the message out (paged_copy: released without a record).
struct QueueEntry {
  MessagePtr message;
  std::uint64_t seq = 0;
  bool redelivered = false;
  bool paged_copy = false;
  store::MessageId stored_id = 0;  // 0: acks of this entry are not recorded
  store::Position position;        // segment 0: the queue holds no log record
  store::Lsn lsn = 0;              // of that record; in memory until it is durable

  bool in_log() const { return position.segment != 0; }
};

class ConsumerSink {
 public:
  virtual ~ConsumerSink() = default;

  // True when the consumer may take one more message now (prefetch limits, flow).
  virtual bool can_accept(const Consumer& consumer) const = 0;

  // Takes one message for `consumer` from `queue`. Unless the consumer is no-ack, the sink
  // keeps the entry until it is acked (Queue::ack) or returned (Queue::requeue).
  virtual void deliver(Consumer& consumer, const std::shared_ptr<Queue>& queue,
                       QueueEntry entry) = 0;

  // The queue went away (deleted); the consumer is already detached from it.
  virtual void cancelled_by_queue(Consumer& consumer) = 0;
};

struct Consumer {
  std::string tag;
  ConsumerSink* sink = nullptr;
  bool no_ack = false;
  bool exclusive = false;
  std::int64_t priority = 0;   // x-priority
  std::uint32_t prefetch = 0;  // per-consumer basic.qos limit, 0 = none
  std::uint32_t unacked = 0;   // deliveries not yet acked
  std::shared_ptr<Queue> queue;
};

}  // namespace sluice::broker
