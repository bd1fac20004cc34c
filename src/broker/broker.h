#pragma once

// Broker: the root of the broker's state: the vhosts, and the direct reply-to consumers.
//
// One instance per process, created by the server, owned and used by the broker loop only.
// It knows nothing of sockets or frames; the AMQP layer calls it.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/consumer.h"
#include "broker/vhost.h"

namespace sluice::broker {

// Direct reply-to (amq.rabbitmq.reply-to): replies go straight to a consumer, no queue.
class DirectReplyRegistry {
 public:
  // The prefix of every reply address; the rest is the token of one consumer.
  static constexpr std::string_view kPseudoQueue = "amq.rabbitmq.reply-to";
  static constexpr std::string_view kAddressPrefix = "amq.rabbitmq.reply-to.";

  // Registers a consumer and returns its reply address (kAddressPrefix + token).
  std::string add(Consumer* consumer);
  void remove(const std::string& address);
  // The consumer behind a reply address, or null.
  Consumer* find(std::string_view address) const;

 private:
  std::unordered_map<std::string, Consumer*> consumers_;
};

class Broker {
 public:
  Broker();

  // Null if the vhost does not exist.
  VirtualHost* vhost(std::string_view name);
  DirectReplyRegistry& replies() { return replies_; }

 private:
  std::map<std::string, std::unique_ptr<VirtualHost>, std::less<>> vhosts_;
  DirectReplyRegistry replies_;
};

}  // namespace sluice::broker
