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

// A message in a queue: the message, its position in the queue (for requeue in the original
// order and for acks), and whether it was delivered before. A persistent message of a long
// durable queue may be paged out: `message` is then null and the log position says where to
// read it back (Queue does that before anyone else sees the entry).
struct QueueEntry {
  MessagePtr message;
  std::uint64_t seq = 0;
  bool redelivered = false;
  store::MessageId stored_id = 0;  // 0: not in the message log
  store::Position position;
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
  std::int64_t priority = 0;       // x-priority
  std::uint32_t prefetch = 0;      // per-consumer basic.qos limit, 0 = none
  std::uint32_t unacked = 0;       // deliveries not yet acked
  std::shared_ptr<Queue> queue;
};

}  // namespace sluice::broker
