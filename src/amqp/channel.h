#pragma once

// Channel: one AMQP channel of a connection, and the broker's view of it as a consumer sink.
//
// Owned by its Connection and used only on the connection's loop (which is the broker loop).
// It assembles content (a content-bearing method, a content header, then body frames),
// dispatches methods by class to the handlers in channel_*.cc, tracks unacknowledged
// deliveries, applies basic.qos limits, and keeps publisher-confirm and transaction state.
//
// Lifecycle: created by channel.open; release() cancels its consumers and requeues what it
// has not had acked, and runs when the channel closes for any reason (client close, error,
// connection end). The connection destroys it once finished() says the close is complete.
//
// A soft error sends channel.close; from then until the client's close-ok, the channel
// discards everything else it receives, as the spec requires.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "amqp/properties.h"
#include "broker/broker.h"
#include "broker/consumer.h"
#include "broker/vhost.h"
#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp {

class Connection;

// Counters for the management API; read on the broker loop.
struct ChannelStats {
  std::uint64_t published = 0;
  std::uint64_t delivered = 0;
  std::uint64_t acked = 0;
  std::uint64_t returned = 0;
  std::uint64_t confirmed = 0;
};

class Channel final : public broker::ConsumerSink, public broker::DurabilityWaiter {
 public:
  Channel(Connection& connection, std::uint16_t id);
  ~Channel() override;

  std::uint16_t id() const { return id_; }
  const ChannelStats& stats() const { return stats_; }
  std::size_t unacked_count() const { return unacked_.size(); }
  std::size_t consumer_count() const { return consumers_.size(); }

  // Handles one frame routed to this channel.
  Result<void> handle_frame(const Frame& frame);

  // Sends channel.close for a soft error, releases resources, starts discarding input.
  void close_with_error(const Error& error);

  // Cancels consumers and requeues unacked deliveries. Idempotent.
  void release();

  // Sends the publisher confirms gathered since the last call, as one basic.ack.
  void send_confirms();

  // The connection's socket drained: consumers held back by back-pressure may continue.
  void resume_deliveries();

  // True once the close handshake is complete and the connection may destroy the channel.
  bool finished() const { return state_ == State::Finished; }

  // The method being handled when an error occurred, for the close's class-id and method-id.
  std::uint16_t failing_class_id() const { return current_class_id_; }
  std::uint16_t failing_method_id() const { return current_method_id_; }

  // broker::ConsumerSink
  bool can_accept(const broker::Consumer& consumer) const override;
  void deliver(broker::Consumer& consumer, const broker::QueuePtr& queue,
               broker::QueueEntry entry) override;
  void cancelled_by_queue(broker::Consumer& consumer) override;

  // broker::DurabilityWaiter: the log synced further; confirms waiting for it may go.
  void on_durable() override;

 private:
  enum class State { Open, Closing, Finished };

  // A content-bearing method waiting for its header and body.
  struct PendingContent {
    Method method;
    std::optional<ContentHeader> header;
    Bytes encoded_header;
    Bytes body;
  };

  // A delivery the client has not acked yet. Tags increase, so the deque stays sorted.
  struct Unacked {
    std::uint64_t tag = 0;
    broker::QueuePtr queue;
    broker::QueueEntry entry;
    broker::Consumer* consumer = nullptr;  // null for basic.get, or once cancelled
    bool from_consumer = false;            // counts towards the channel's prefetch
  };

  // Work deferred by a transaction until tx.commit.
  struct TxPublish {
    std::shared_ptr<broker::Message> message;
    std::vector<std::string> keys;
    bool mandatory = false;
  };
  struct TxSettle {
    std::uint64_t tag = 0;
    bool multiple = false;
    bool requeue = false;
    bool ack = true;
  };

  // Frames and dispatch (channel.cc).
  Result<void> handle_method(const Frame& frame);
  Result<void> handle_content_header(const Frame& frame);
  Result<void> handle_content_body(const Frame& frame);
  Result<void> dispatch(const Method& method);
  Result<void> on_channel_method(const Method& method);
  Result<void> unimplemented() const;
  broker::VirtualHost& vhost() const;
  broker::Broker& broker() const;
  const broker::Actor& actor() const;
  // Resolves "" to the last queue declared on this channel, as the spec allows.
  Result<std::string> queue_name(const std::string& name) const;

  // Exchange and queue classes (channel_definitions.cc).
  Result<void> on_exchange_method(const Method& method);
  Result<void> on_queue_method(const Method& method);
  Result<void> queue_declare(const method::QueueDeclare& m);

  // Publishing (channel_publish.cc).
  Result<void> publish(PendingContent&& content);
  // `exchange` is null when it was deleted before a transaction's commit: nothing routes.
  Result<void> route_and_enqueue(const std::shared_ptr<broker::Message>& message,
                                 broker::Exchange* exchange,
                                 const std::vector<std::string>& keys, bool mandatory);
  // Writes a persistent message to the log for the durable queues among `queues`; returns
  // the Lsn its confirm waits for (0: nothing written).
  Result<store::Lsn> persist(broker::Message& message,
                             const std::vector<broker::QueuePtr>& queues);
  Result<void> publish_direct_reply(const broker::MessagePtr& message, bool mandatory);
  void send_return(const broker::MessagePtr& message, std::uint16_t code, std::string_view text);
  void confirm_published(store::Lsn lsn = 0);

  // Consuming and acknowledging (channel_consume.cc).
  Result<void> on_basic_method(const Method& method);
  Result<void> consume(const method::BasicConsume& m);
  Result<void> consume_direct_reply(const method::BasicConsume& m, const std::string& tag);
  Result<void> cancel(const std::string& tag, bool notify_client);
  Result<void> get(const method::BasicGet& m);
  Result<void> qos(const method::BasicQos& m);
  Result<void> settle(std::uint64_t tag, bool multiple, bool requeue, bool ack);
  void requeue_all();
  void remove_consumer(broker::Consumer& consumer);
  std::vector<Unacked> take_unacked(std::uint64_t tag, bool multiple);
  void dispatch_queues_of_consumers();

  // Transactions and confirms (channel_tx.cc).
  Result<void> on_tx_method(const Method& method);
  Result<void> on_confirm_method(const Method& method);
  Result<void> commit();

  Connection& connection_;
  const std::uint16_t id_;
  State state_ = State::Open;
  bool released_ = false;
  std::optional<PendingContent> pending_;
  std::uint16_t current_class_id_ = 0;
  std::uint16_t current_method_id_ = 0;
  std::string last_queue_;

  // Consuming.
  std::map<std::string, std::unique_ptr<broker::Consumer>> consumers_;
  std::deque<Unacked> unacked_;
  std::uint64_t next_delivery_tag_ = 1;
  std::uint32_t consumer_prefetch_ = 0;  // basic.qos global=false: for new consumers
  std::uint32_t channel_prefetch_ = 0;   // basic.qos global=true: shared by the channel
  std::uint32_t consumer_unacked_ = 0;   // deliveries to consumers not yet settled
  std::string reply_address_;            // direct reply-to consumer, "" when none
  std::string reply_consumer_tag_;

  // Publishing.
  bool confirm_mode_ = false;
  std::uint64_t next_publish_seq_ = 1;
  std::uint64_t confirmed_upto_ = 0;  // highest sequence number already acked to the client
  // Publishes whose confirm waits for the log to sync: (sequence number, Lsn), in order.
  std::deque<std::pair<std::uint64_t, store::Lsn>> awaiting_disk_;
  bool tx_mode_ = false;
  std::vector<TxPublish> tx_publishes_;
  std::vector<TxSettle> tx_settles_;
  std::vector<broker::QueuePtr> route_scratch_;

  ChannelStats stats_;
};

}  // namespace sluice::amqp
