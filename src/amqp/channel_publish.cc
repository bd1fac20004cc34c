// Channel: basic.publish, from assembled content to queues, returns and confirms.

#include <fmt/format.h>

#include "amqp/channel.h"
#include "amqp/connection.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"
#include "store/message_log.h"

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
    const auto is_bcc = [](const auto& kv) { return kv.first == "BCC"; };
    reencode = std::erase_if(*props.headers, is_bcc) > 0;
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
  return route_and_enqueue(message, exchange.get(), keys, m.mandatory);
}

Result<void> Channel::route_and_enqueue(const std::shared_ptr<broker::Message>& message,
                                        broker::Exchange* exchange,
                                        const std::vector<std::string>& keys, bool mandatory) {
  route_scratch_.clear();
  if (exchange) {
    std::vector<std::string_view> views(keys.begin(), keys.end());
    const FieldTable* headers =
        message->properties.headers ? &*message->properties.headers : nullptr;
    vhost().route(*exchange, views, headers, route_scratch_);
    ++exchange->stats().published_in;
  }
  store::Lsn lsn = 0;
  if (route_scratch_.empty()) {
    if (mandatory) send_return(message, 312, "NO_ROUTE");
  } else {
    if (message->persistent()) {
      auto written = persist(*message, route_scratch_);
      if (!written) {
        route_scratch_.clear();
        return written.error();
      }
      lsn = *written;
    }
    for (const auto& queue : route_scratch_) queue->enqueue(message);
    ++exchange->stats().published_out;
  }
  route_scratch_.clear();
  confirm_published(lsn);
  return ok();
}

Result<store::Lsn> Channel::persist(broker::Message& message,
                                    const std::vector<broker::QueuePtr>& queues) {
  store::MessageLog* log = broker().message_log();
  if (log == nullptr) return store::Lsn{0};
  std::vector<store::QueueId> ids;
  for (const auto& q : queues) {
    if (q->stores_messages()) ids.push_back(q->settings().store_id);
  }
  if (ids.empty()) return store::Lsn{0};
  const store::MessageId id = broker().next_message_id();
  auto appended = log->append_message(store::MessageRecord{.id = id,
                                                           .queues = ids,
                                                           .exchange = message.exchange,
                                                           .routing_key = message.routing_key,
                                                           .properties = message.encoded_header,
                                                           .body = message.body});
  if (!appended) {
    return amqp_error(ReplyCode::InternalError,
                      fmt::format("cannot write message to disk: {}", appended.error().detail));
  }
  message.store_id = id;
  message.position = appended->position;
  message.lsn = appended->lsn;
  return appended->lsn;
}

Result<void> Channel::publish_direct_reply(const broker::MessagePtr& message, bool mandatory) {
  broker::Consumer* consumer = broker().replies().find(message->routing_key);
  if (consumer != nullptr) {
    consumer->sink->deliver(*consumer, nullptr, broker::QueueEntry{.message = message});
  } else if (mandatory) {
    // The requester went away: returned if mandatory, else dropped, as RabbitMQ does.
    send_return(message, 312, "NO_ROUTE");
  }
  confirm_published();
  return ok();
}

void Channel::send_return(const broker::MessagePtr& message, std::uint16_t code,
                          std::string_view text) {
  ++stats_.returned;
  connection_.send_message(id_,
                           method::BasicReturn{.reply_code = code,
                                               .reply_text = std::string(text),
                                               .exchange = message->exchange,
                                               .routing_key = message->routing_key},
                           message);
}

// A transient message is confirmed once routed: nothing more can happen to it that a confirm
// promises. A persistent message in a durable queue is confirmed once its log record is on
// disk (lsn). Confirms go out in publish order, so one basic.ack with multiple covers them.
void Channel::confirm_published(store::Lsn lsn) {
  if (!confirm_mode_) return;
  const std::uint64_t seq = next_publish_seq_++;
  if (lsn > broker().durable_lsn()) {
    if (awaiting_disk_.empty()) broker().wait_for_disk(this);
    awaiting_disk_.emplace_back(seq, lsn);
  }
  connection_.confirms_pending(id_);
}

void Channel::on_durable() {
  if (state_ != State::Open) return;
  connection_.confirms_pending(id_);
}

void Channel::send_confirms() {
  const store::Lsn durable = broker().durable_lsn();
  while (!awaiting_disk_.empty() && awaiting_disk_.front().second <= durable) {
    awaiting_disk_.pop_front();
  }
  if (awaiting_disk_.empty()) broker().stop_waiting(this);
  const std::uint64_t upto =
      awaiting_disk_.empty() ? next_publish_seq_ - 1 : awaiting_disk_.front().first - 1;
  if (upto <= confirmed_upto_) return;
  const bool multiple = upto - confirmed_upto_ > 1;
  connection_.send_method(id_, method::BasicAck{.delivery_tag = upto, .multiple = multiple});
  stats_.confirmed += upto - confirmed_upto_;
  confirmed_upto_ = upto;
}

}  // namespace sluice::amqp
