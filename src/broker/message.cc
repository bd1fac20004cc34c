#include "broker/message.h"

#include "store/record.h"

namespace sluice::broker {

Result<MessagePtr> message_from_store(store::StoredMessage&& stored,
                                      const store::Position& position) {
  auto header = amqp::decode_content_header(stored.properties);
  if (!header) return header.error();
  auto message = std::make_shared<Message>();
  message->exchange = std::move(stored.exchange);
  message->routing_key = std::move(stored.routing_key);
  message->properties = std::move(header->properties);
  message->encoded_header = std::move(stored.properties);
  message->body = std::move(stored.body);
  if (!stored.queues.empty()) {  // the message's own record, not a paged copy
    message->store_id = stored.id;
    message->position = position;
  }
  return MessagePtr(std::move(message));
}

}  // namespace sluice::broker
