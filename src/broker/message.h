#pragma once

// Message: one published message, immutable once routed, shared by reference between every
// queue it was routed to and every delivery of it.

#include <cstdint>
#include <memory>
#include <string>

#include "amqp/properties.h"
#include "common/bytes.h"
#include "common/result.h"
#include "store/log_format.h"

namespace sluice::broker {

struct Message {
  std::string exchange;
  std::string routing_key;
  amqp::BasicProperties properties;
  // The encoded content header (class, weight, size, flags, properties), sent as is with
  // every delivery so deliveries do not re-encode properties.
  Bytes encoded_header;
  Bytes body;
  // Set when the message was written to the message log (persistent, routed to at least one
  // durable queue); 0 otherwise. Fixed before the message is shared. A queue's paged copy
  // does not set them: it is the queue's, in its QueueEntry.
  store::MessageId store_id = 0;
  store::Position position;
  store::Lsn lsn = 0;  // the log record's; once durable the body may be paged out

  bool persistent() const { return properties.delivery_mode == std::uint8_t{2}; }
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace sluice::broker

namespace sluice::store {
struct StoredMessage;
}

namespace sluice::broker {

// A message read back from the log (paged out, or recovered). Errors: the properties do not
// decode.
Result<MessagePtr> message_from_store(store::StoredMessage&& stored,
                                      const store::Position& position);

}  // namespace sluice::broker
