// Channel: the exchange and queue classes. Each handler translates a method into a call on
// the VirtualHost (where definitions change) and the reply, unless the client said nowait.

#include <fmt/format.h>

#include "amqp/channel.h"
#include "amqp/connection.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"

namespace sluice::amqp {

Result<void> Channel::on_exchange_method(const Method& method) {
  if (const auto* m = std::get_if<method::ExchangeDeclare>(&method)) {
    broker::ExchangeSettings settings{.name = m->exchange,
                                      .durable = m->durable,
                                      .auto_delete = m->auto_delete,
                                      .internal = m->internal,
                                      .arguments = m->arguments};
    auto declared = vhost().declare_exchange(std::move(settings), m->type, m->passive, actor());
    if (!declared) return declared.error();
    if (!m->nowait) connection_.send_method(id_, method::ExchangeDeclareOk{});
    return ok();
  }
  if (const auto* m = std::get_if<method::ExchangeDelete>(&method)) {
    if (auto r = vhost().delete_exchange(m->exchange, m->if_unused, actor()); !r) return r;
    if (!m->nowait) connection_.send_method(id_, method::ExchangeDeleteOk{});
    return ok();
  }
  if (const auto* m = std::get_if<method::ExchangeBind>(&method)) {
    auto r = vhost().bind_exchange(m->destination, m->source, m->routing_key, m->arguments,
                                   actor());
    if (!r) return r;
    if (!m->nowait) connection_.send_method(id_, method::ExchangeBindOk{});
    return ok();
  }
  if (const auto* m = std::get_if<method::ExchangeUnbind>(&method)) {
    auto r = vhost().unbind_exchange(m->destination, m->source, m->routing_key, m->arguments,
                                     actor());
    if (!r) return r;
    if (!m->nowait) connection_.send_method(id_, method::ExchangeUnbindOk{});
    return ok();
  }
  return unimplemented();
}

Result<void> Channel::queue_declare(const method::QueueDeclare& m) {
  // The direct reply-to pseudo-queue exists for every channel; RabbitMQ reports it empty
  // with one consumer. A reply address exists while its requester's channel lives.
  const bool pseudo = m.queue == broker::DirectReplyRegistry::kPseudoQueue;
  if (pseudo || m.queue.starts_with(broker::DirectReplyRegistry::kAddressPrefix)) {
    if (!pseudo && broker().replies().find(m.queue) == nullptr) {
      return amqp_error(ReplyCode::NotFound,
                        fmt::format("no queue '{}' in vhost '{}'", m.queue, vhost().name()));
    }
    if (!m.nowait) {
      connection_.send_method(id_, method::QueueDeclareOk{.queue = m.queue, .consumer_count = 1});
    }
    return ok();
  }
  broker::QueueSettings settings{.name = m.queue,
                                 .durable = m.durable,
                                 .exclusive = m.exclusive,
                                 .auto_delete = m.auto_delete,
                                 .arguments = m.arguments};
  auto declared = vhost().declare_queue(std::move(settings), m.passive, actor());
  if (!declared) return declared.error();
  last_queue_ = declared->queue->name();
  if (!m.nowait) {
    connection_.send_method(
        id_, method::QueueDeclareOk{
                 .queue = last_queue_,
                 .message_count = static_cast<std::uint32_t>(declared->message_count),
                 .consumer_count = static_cast<std::uint32_t>(declared->consumer_count)});
  }
  return ok();
}

Result<void> Channel::on_queue_method(const Method& method) {
  if (const auto* m = std::get_if<method::QueueDeclare>(&method)) return queue_declare(*m);
  if (const auto* m = std::get_if<method::QueueBind>(&method)) {
    auto queue = queue_name(m->queue);
    if (!queue) return queue.error();
    // With no queue and no key, the last declared queue's name is the key too (spec 1.7.2.3).
    const std::string& key = m->queue.empty() && m->routing_key.empty() ? *queue : m->routing_key;
    if (auto r = vhost().bind_queue(*queue, m->exchange, key, m->arguments, actor()); !r) {
      return r;
    }
    if (!m->nowait) connection_.send_method(id_, method::QueueBindOk{});
    return ok();
  }
  if (const auto* m = std::get_if<method::QueueUnbind>(&method)) {
    auto queue = queue_name(m->queue);
    if (!queue) return queue.error();
    auto r = vhost().unbind_queue(*queue, m->exchange, m->routing_key, m->arguments, actor());
    if (!r) return r;
    connection_.send_method(id_, method::QueueUnbindOk{});
    return ok();
  }
  if (const auto* m = std::get_if<method::QueuePurge>(&method)) {
    auto queue = queue_name(m->queue);
    if (!queue) return queue.error();
    auto purged = vhost().purge_queue(*queue, actor());
    if (!purged) return purged.error();
    if (!m->nowait) {
      connection_.send_method(
          id_, method::QueuePurgeOk{.message_count = static_cast<std::uint32_t>(*purged)});
    }
    return ok();
  }
  if (const auto* m = std::get_if<method::QueueDelete>(&method)) {
    auto queue = queue_name(m->queue);
    if (!queue) return queue.error();
    auto deleted = vhost().delete_queue(*queue, m->if_unused, m->if_empty, actor());
    if (!deleted) return deleted.error();
    if (!m->nowait) {
      connection_.send_method(
          id_, method::QueueDeleteOk{.message_count = static_cast<std::uint32_t>(*deleted)});
    }
    return ok();
  }
  return unimplemented();
}

}  // namespace sluice::amqp
