#include "broker/message.h"

#include "store/message_log.h"

namespace sluice::broker {

Result<MessagePtr> load_message(const store::MessageLog& log, store::MessageId id,
                                const store::Position& position) {
  auto stored = log.read_message(position);
  if (!stored) return stored.error();
  auto header = amqp::decode_content_header(stored->properties);
  if (!header) return header.error();
  auto message = std::make_shared<Message>();
  message->exchange = std::move(stored->exchange);
  message->routing_key = std::move(stored->routing_key);
  message->properties = std::move(header->properties);
  message->encoded_header = std::move(stored->properties);
  message->body = std::move(stored->body);
  message->store_id = id;
  message->position = position;
  return MessagePtr(std::move(message));
}

}  // namespace sluice::broker
