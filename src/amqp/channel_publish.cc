// Channel: basic.publish, from assembled content to queues, returns and confirms.

#include <fmt/format.h>

#include "amqp/channel.h"
#include "amqp/connection.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"

namespace sluice::amqp {
namespace {

// Appends the long strings of a CC or BCC header (an array, or a single string) to `keys`.
void add_routing_keys(const FieldTable& headers, std::string_view name,
                      std::vector<std::string>& keys) {
  const FieldValue* v = table_find(headers, name);
  if (v == nullptr) return;
  if (const auto* s = std::get_if<std::string>(&v->value)) {
    keys.push_back(*s);
  } else if (const auto* array = std::get_if<FieldArray>(&v->value)) {
    for (const FieldValue& item : *array) {
      if (const auto* k = std::get_if<std::string>(&item.value)) keys.push_back(*k);
    }
  }
}

Bytes encode_header(const ContentHeader& header) {
  Bytes out;
  ByteWriter w(out);
  encode_content_header(w, header);
  return out;
}

}  // namespace

Result<void> Channel::publish(PendingContent&& content) {
  auto& m = std::get<method::BasicPublish>(content.method);
  ContentHeader& header = *content.header;
  BasicProperties& props = header.properties;
  ++stats_.published;

  auto exchange = vhost().find_exchange(m.exchange);
  if (!exchange) {
    return amqp_error(ReplyCode::NotFound,
                      fmt::format("no exchange '{}' in vhost '{}'", m.exchange, vhost().name()));
  }
  if (exchange->settings().internal) {
    return amqp_error(ReplyCode::AccessRefused,
                      fmt::format("cannot publish to internal exchange '{}' in vhost '{}'",
                                  m.exchange, vhost().name()));
  }
  if (props.user_id && *props.user_id != actor().user) {
    return amqp_error(ReplyCode::PreconditionFailed,
                      fmt::format("user_id property set to '{}' but authenticated user was "
                                  "'{}'",
                                  *props.user_id, actor().user));
  }

  // Sender-selected distribution: CC and BCC add routing keys; BCC never reaches consumers.
  std::vector<std::string> keys{m.routing_key};
  bool reencode = false;
  if (props.headers) {
    add_routing_keys(*props.headers, "CC", keys);
    add_routing_keys(*props.headers, "BCC", keys);
    reencode = std::erase_if(*props.headers, [](const auto& kv) { return kv.first == "BCC"; }) > 0;
  }
  // Direct reply-to: the request names this channel's reply consumer as its reply-to.
  if (props.reply_to && *props.reply_to == broker::DirectReplyRegistry::kPseudoQueue) {
    if (reply_address_.empty()) {
      return amqp_error(ReplyCode::PreconditionFailed, "fast reply consumer does not exist");
    }
    props.reply_to = reply_address_;
    reencode = true;
  }

  auto message = std::make_shared<broker::Message>();
  message->exchange = m.exchange;
  message->routing_key = m.routing_key;
  message->encoded_header = reencode ? encode_header(header) : std::move(content.encoded_header);
  message->properties = std::move(props);
  message->body = std::move(content.body);

  if (m.exchange.empty() &&
      m.routing_key.starts_with(broker::DirectReplyRegistry::kAddressPrefix)) {
    return publish_direct_reply(message, m.mandatory);
  }
  if (tx_mode_) {
    tx_publishes_.push_back(TxPublish{std::move(message), std::move(keys), m.mandatory});
    return ok();
  }
  return route_and_enqueue(message, keys, m.mandatory);
}

Result<void> Channel::route_and_enqueue(const broker::MessagePtr& message,
                                        const std::vector<std::string>& keys, bool mandatory) {
  auto exchange = vhost().find_exchange(message->exchange);
  route_scratch_.clear();
  if (exchange) {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    const FieldTable* headers =
        message->properties.headers ? &*message->properties.headers : nullptr;
    vhost().route(*exchange, views, headers, route_scratch_);
    ++exchange->stats().published_in;
  }
  if (route_scratch_.empty()) {
    if (mandatory) send_return(*message, 312, "NO_ROUTE");
  } else {
    for (const auto& queue : route_scratch_) queue->enqueue(message);
  }
  route_scratch_.clear();
  confirm_published();
  return ok();
}

Result<void> Channel::publish_direct_reply(const broker::MessagePtr& message, bool mandatory) {
  broker::Consumer* consumer = broker().replies().find(message->routing_key);
  if (consumer != nullptr) {
    consumer->sink->deliver(*consumer, nullptr, broker::QueueEntry{message, 0, false});
  } else if (mandatory) {
    // The requester went away: returned if mandatory, else dropped, as RabbitMQ does.
    send_return(*message, 312, "NO_ROUTE");
  }
  confirm_published();
  return ok();
}

void Channel::send_return(const broker::Message& message, std::uint16_t code,
                          std::string_view text) {
  ++stats_.returned;
  connection_.send_message(id_,
                           method::BasicReturn{.reply_code = code,
                                               .reply_text = std::string(text),
                                               .exchange = message.exchange,
                                               .routing_key = message.routing_key},
                           message);
}

// Transient messages are confirmed once routed: nothing more can happen to them that a
// confirm promises. (Persistent messages in durable queues will wait for the disk.)
void Channel::confirm_published() {
  if (!confirm_mode_) return;
  if (next_publish_seq_ - 1 == confirmed_upto_) connection_.confirms_pending(id_);
  ++next_publish_seq_;
}

void Channel::send_confirms() {
  const std::uint64_t upto = next_publish_seq_ - 1;
  if (upto == confirmed_upto_) return;
  const bool multiple = upto - confirmed_upto_ > 1;
  connection_.send_method(id_, method::BasicAck{.delivery_tag = upto, .multiple = multiple});
  stats_.confirmed += upto - confirmed_upto_;
  confirmed_upto_ = upto;
}

}  // namespace sluice::amqp
