// Channel: consuming (basic.consume, cancel, get, qos), acknowledgements and redelivery, and
// the ConsumerSink side through which queues hand messages to this channel.

#include <algorithm>

#include <fmt/format.h>

#include "amqp/channel.h"
#include "amqp/connection.h"
#include "amqp/logger.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"
#include "broker/random_name.h"

namespace sluice::amqp {
namespace {

std::string generate_consumer_tag() { return broker::random_name("amq.ctag-", 22); }

}  // namespace

Result<void> Channel::on_basic_method(const Method& method) {
  if (const auto* m = std::get_if<method::BasicAck>(&method)) {
    return settle(m->delivery_tag, m->multiple, false, true);
  }
  if (const auto* m = std::get_if<method::BasicNack>(&method)) {
    return settle(m->delivery_tag, m->multiple, m->requeue, false);
  }
  if (const auto* m = std::get_if<method::BasicReject>(&method)) {
    return settle(m->delivery_tag, false, m->requeue, false);
  }
  if (const auto* m = std::get_if<method::BasicConsume>(&method)) return consume(*m);
  if (const auto* m = std::get_if<method::BasicCancel>(&method)) {
    auto r = cancel(m->consumer_tag, false);
    if (r && !m->nowait) {
      connection_.send_method(id_, method::BasicCancelOk{.consumer_tag = m->consumer_tag});
    }
    return r;
  }
  if (const auto* m = std::get_if<method::BasicGet>(&method)) return get(*m);
  if (const auto* m = std::get_if<method::BasicQos>(&method)) return qos(*m);
  const bool recover = std::holds_alternative<method::BasicRecover>(method);
  if (recover || std::holds_alternative<method::BasicRecoverAsync>(method)) {
    const bool requeue = recover ? std::get<method::BasicRecover>(method).requeue
                                 : std::get<method::BasicRecoverAsync>(method).requeue;
    // RabbitMQ never implemented redelivery to the same consumer (requeue=false).
    if (!requeue) return amqp_error(ReplyCode::NotImplemented, "requeue=false");
    requeue_all();
    if (recover) connection_.send_method(id_, method::BasicRecoverOk{});
    return ok();
  }
  return unimplemented();
}

Result<void> Channel::consume(const method::BasicConsume& m) {
  std::string tag = m.consumer_tag.empty() ? generate_consumer_tag() : m.consumer_tag;
  if (consumers_.count(tag) > 0 || tag == reply_consumer_tag_) {
    return amqp_error(ReplyCode::NotAllowed,
                      fmt::format("attempt to reuse consumer tag '{}'", tag));
  }
  if (m.queue == broker::DirectReplyRegistry::kPseudoQueue) return consume_direct_reply(m, tag);

  auto name = queue_name(m.queue);
  if (!name) return name.error();
  auto queue = vhost().queue_for(*name, actor());
  if (!queue) return queue.error();
  if ((*queue)->has_exclusive_consumer() || (m.exclusive && (*queue)->consumer_count() > 0)) {
    return amqp_error(ReplyCode::AccessRefused,
                      fmt::format("queue '{}' in vhost '{}' in exclusive use", *name,
                                  vhost().name()));
  }
  std::int64_t priority = 0;
  if (table_find(m.arguments, "x-priority") != nullptr) {
    auto value = table_int(m.arguments, "x-priority");
    if (!value) {
      return amqp_error(ReplyCode::PreconditionFailed,
                        "invalid arg 'x-priority': expected an integer");
    }
    priority = *value;
  }

  auto consumer = std::make_unique<broker::Consumer>(broker::Consumer{
      .tag = tag,
      .sink = this,
      .no_ack = m.no_ack,
      .exclusive = m.exclusive,
      .priority = priority,
      .prefetch = consumer_prefetch_,
      .unacked = 0,
      .queue = *queue,
  });
  broker::Consumer* raw = consumer.get();
  consumers_.emplace(tag, std::move(consumer));
  // consume-ok must reach the client before the first delivery.
  if (!m.nowait) connection_.send_method(id_, method::BasicConsumeOk{.consumer_tag = tag});
  (*queue)->add_consumer(raw);
  return ok();
}

Result<void> Channel::consume_direct_reply(const method::BasicConsume& m,
                                           const std::string& tag) {
  if (!m.no_ack) {
    return amqp_error(ReplyCode::PreconditionFailed, "reply consumer cannot acknowledge");
  }
  if (!reply_address_.empty()) {
    return amqp_error(ReplyCode::PreconditionFailed,
                      "reply consumer already set on this channel");
  }
  auto consumer = std::make_unique<broker::Consumer>(
      broker::Consumer{.tag = tag, .sink = this, .no_ack = true});
  reply_address_ = broker().replies().add(consumer.get());
  reply_consumer_tag_ = tag;
  consumers_.emplace(tag, std::move(consumer));
  if (!m.nowait) connection_.send_method(id_, method::BasicConsumeOk{.consumer_tag = tag});
  return ok();
}

Result<void> Channel::cancel(const std::string& tag, bool notify_client) {
  auto it = consumers_.find(tag);
  // Cancelling an unknown tag is not an error (spec: the server does nothing).
  if (it == consumers_.end()) return ok();
  if (notify_client) {
    connection_.send_method(id_, method::BasicCancel{.consumer_tag = tag, .nowait = true});
  }
  remove_consumer(*it->second);
  return ok();
}

// Detaches and destroys a consumer. Its unacked deliveries stay on the channel, to be acked
// or requeued later, as in RabbitMQ.
void Channel::remove_consumer(broker::Consumer& consumer) {
  const std::string tag = consumer.tag;
  for (Unacked& u : unacked_) {
    if (u.consumer == &consumer) u.consumer = nullptr;
  }
  if (tag == reply_consumer_tag_) {
    broker().replies().remove(reply_address_);
    reply_address_.clear();
    reply_consumer_tag_.clear();
  }
  broker::QueuePtr queue = consumer.queue;
  const bool last_of_auto_delete = queue && queue->remove_consumer(&consumer);
  consumers_.erase(tag);
  if (last_of_auto_delete) {
    if (auto deleted = vhost().delete_queue_internal(queue); !deleted) {
      logger()->error("conn={} ch={} queue={} auto-delete failed: {}", actor().connection_id, id_,
                      queue->name(), deleted.error().detail);
    }
  }
}

Result<void> Channel::get(const method::BasicGet& m) {
  auto name = queue_name(m.queue);
  if (!name) return name.error();
  auto queue = vhost().queue_for(*name, actor());
  if (!queue) return queue.error();
  auto entry = (*queue)->get(!m.no_ack);
  if (!entry) {
    connection_.send_method(id_, method::BasicGetEmpty{});
    return ok();
  }
  const std::uint64_t tag = next_delivery_tag_++;
  const broker::MessagePtr message = entry->message;
  const bool redelivered = entry->redelivered;
  if (!m.no_ack) unacked_.push_back(Unacked{tag, *queue, std::move(*entry), nullptr});
  ++stats_.delivered;
  connection_.send_message(
      id_,
      method::BasicGetOk{.delivery_tag = tag,
                         .redelivered = redelivered,
                         .exchange = message->exchange,
                         .routing_key = message->routing_key,
                         .message_count = static_cast<std::uint32_t>((*queue)->message_count())},
      message);
  return ok();
}

Result<void> Channel::qos(const method::BasicQos& m) {
  if (m.prefetch_size != 0) {
    return amqp_error(ReplyCode::NotImplemented,
                      fmt::format("prefetch_size!=0 ({})", m.prefetch_size));
  }
  // As RabbitMQ: global=false limits each consumer created afterwards, global=true the
  // channel as a whole.
  if (m.global) {
    channel_prefetch_ = m.prefetch_count;
  } else {
    consumer_prefetch_ = m.prefetch_count;
  }
  connection_.send_method(id_, method::BasicQosOk{});
  dispatch_queues_of_consumers();
  return ok();
}

// --- Acknowledgements -------------------------------------------------------------------

std::vector<Channel::Unacked> Channel::take_unacked(std::uint64_t tag, bool multiple) {
  std::vector<Unacked> taken;
  if (multiple) {
    // Tag 0 with multiple means "everything outstanding".
    while (!unacked_.empty() && (tag == 0 || unacked_.front().tag <= tag)) {
      taken.push_back(std::move(unacked_.front()));
      unacked_.pop_front();
    }
    return taken;
  }
  auto it = std::lower_bound(unacked_.begin(), unacked_.end(), tag,
                             [](const Unacked& u, std::uint64_t t) { return u.tag < t; });
  if (it != unacked_.end() && it->tag == tag) {
    taken.push_back(std::move(*it));
    unacked_.erase(it);
  }
  return taken;
}

Result<void> Channel::settle(std::uint64_t tag, bool multiple, bool requeue, bool ack) {
  if (tx_mode_) {
    // Validate now (an unknown tag fails at once, as RabbitMQ does), apply on commit.
    const bool known = (multiple && tag == 0) ||
                       std::any_of(unacked_.begin(), unacked_.end(),
                                   [&](const Unacked& u) { return u.tag == tag; }) ||
                       (multiple && !unacked_.empty() && unacked_.front().tag <= tag);
    if (!known) {
      return amqp_error(ReplyCode::PreconditionFailed, fmt::format("unknown delivery tag {}", tag));
    }
    tx_settles_.push_back(TxSettle{tag, multiple, requeue, ack});
    return ok();
  }
  std::vector<Unacked> taken = take_unacked(tag, multiple);
  if (taken.empty() && !(multiple && tag == 0)) {
    return amqp_error(ReplyCode::PreconditionFailed, fmt::format("unknown delivery tag {}", tag));
  }
  std::vector<broker::QueueEntry> back;
  broker::QueuePtr back_queue;
  for (Unacked& u : taken) {
    if (u.consumer != nullptr) --u.consumer->unacked;
    if (u.from_consumer) --consumer_unacked_;
    if (ack) ++stats_.acked;
    if (requeue) {
      // Group consecutive entries of one queue so each queue re-sorts once.
      if (back_queue && back_queue != u.queue) {
        back_queue->requeue(std::move(back));
        back.clear();
      }
      back_queue = u.queue;
      back.push_back(std::move(u.entry));
    } else {
      // TODO: rejected messages are dropped; dead-lettering arrives with failure handling.
      u.queue->settle(u.entry);
    }
  }
  if (back_queue) back_queue->requeue(std::move(back));
  dispatch_queues_of_consumers();
  return ok();
}

void Channel::requeue_all() {
  if (unacked_.empty()) return;
  std::map<broker::Queue*, std::pair<broker::QueuePtr, std::vector<broker::QueueEntry>>> by_queue;
  for (Unacked& u : unacked_) {
    if (u.consumer != nullptr) --u.consumer->unacked;
    auto& slot = by_queue[u.queue.get()];
    slot.first = u.queue;
    slot.second.push_back(std::move(u.entry));
  }
  unacked_.clear();
  consumer_unacked_ = 0;
  for (auto& [raw, slot] : by_queue) slot.first->requeue(std::move(slot.second));
}

void Channel::dispatch_queues_of_consumers() {
  // Collect first: a dispatch can deliver, and a delivery never changes consumers_, but a
  // copy keeps this safe if that ever changes.
  std::vector<broker::QueuePtr> queues;
  for (const auto& [tag, c] : consumers_) {
    if (c->queue && std::find(queues.begin(), queues.end(), c->queue) == queues.end()) {
      queues.push_back(c->queue);
    }
  }
  for (const auto& q : queues) q->dispatch();
}

void Channel::resume_deliveries() { dispatch_queues_of_consumers(); }

// --- ConsumerSink -----------------------------------------------------------------------

bool Channel::can_accept(const broker::Consumer& consumer) const {
  if (state_ != State::Open) return false;
  if (connection_.output_congested()) {
    connection_.note_deliveries_held();
    return false;
  }
  if (consumer.no_ack) return true;
  if (consumer.prefetch != 0 && consumer.unacked >= consumer.prefetch) return false;
  return channel_prefetch_ == 0 || consumer_unacked_ < channel_prefetch_;
}

void Channel::deliver(broker::Consumer& consumer, const broker::QueuePtr& queue,
                      broker::QueueEntry entry) {
  const std::uint64_t tag = next_delivery_tag_++;
  const broker::MessagePtr message = entry.message;
  const bool redelivered = entry.redelivered;
  if (!consumer.no_ack) {
    ++consumer.unacked;
    ++consumer_unacked_;
    unacked_.push_back(Unacked{tag, queue, std::move(entry), &consumer, true});
  }
  ++stats_.delivered;
  connection_.send_message(id_,
                           method::BasicDeliver{.consumer_tag = consumer.tag,
                                                .delivery_tag = tag,
                                                .redelivered = redelivered,
                                                .exchange = message->exchange,
                                                .routing_key = message->routing_key},
                           message);
}

void Channel::cancelled_by_queue(broker::Consumer& consumer) {
  // The queue has already detached the consumer; tell the client if it understands.
  consumer.queue.reset();
  const std::string tag = consumer.tag;
  if (connection_.client_capability(ClientCapability::ConsumerCancelNotify)) {
    connection_.send_method(id_, method::BasicCancel{.consumer_tag = tag, .nowait = true});
  }
  for (Unacked& u : unacked_) {
    if (u.consumer == &consumer) u.consumer = nullptr;
  }
  consumers_.erase(tag);
}

}  // namespace sluice::amqp
