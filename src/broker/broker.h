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
#include "store/log_format.h"

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

// Something waiting for the message log to reach an Lsn (a channel holding confirms).
class DurabilityWaiter {
 public:
  virtual ~DurabilityWaiter() = default;
  virtual void on_durable() = 0;
};

class Broker {
 public:
  Broker();

  // Null if the vhost does not exist.
  VirtualHost* vhost(std::string_view name);
  DirectReplyRegistry& replies() { return replies_; }

  // --- The message log ------------------------------------------------------------------
  // Null when running without one (unit tests). Set once at start-up.
  void set_message_log(store::MessageLog* log);
  store::MessageLog* message_log() const { return log_; }
  store::MessageId next_message_id() { return next_message_id_++; }
  void resume_message_ids_after(store::MessageId id) { next_message_id_ = id + 1; }

  // Everything up to `lsn` is on disk; called on the broker loop.
  void durable_upto(store::Lsn lsn);
  store::Lsn durable_lsn() const { return durable_lsn_; }
  void wait_for_disk(DurabilityWaiter* waiter);
  void stop_waiting(DurabilityWaiter* waiter);

  // Queues whose paged-out messages could not be read back (an I/O error, no file
  // descriptors) try again. Called periodically on the broker loop.
  void retry_stalled_queues();

  // --- Write-behind flow control --------------------------------------------------------
  // While the message log is more than flow_limit bytes behind the disk, publishes are held:
  // their connections are not read, without connection.blocked (this is flow control, as
  // RabbitMQ's credit flow, not an alarm). It bounds the memory that messages waiting to be
  // written hold when publishers outrun the disk.
  void set_log_flow_limit(std::uint64_t bytes) { flow_limit_ = bytes; }
  // True if a publish must wait now; a later log_caught_up() says when it may go on.
  bool publish_held_by_log();
  // Call after durable_upto(): true, once, when publishes were held and need not be now.
  bool log_caught_up();

  // --- Resource alarms ------------------------------------------------------------------
  // While set, publishing connections are not read. The reason ("low on memory") is what
  // connection.blocked tells clients; "" clears the alarm.
  void set_resource_alarm(std::string reason) { alarm_reason_ = std::move(reason); }
  bool resource_alarm() const { return !alarm_reason_.empty(); }
  const std::string& alarm_reason() const { return alarm_reason_; }

 private:
  std::map<std::string, std::unique_ptr<VirtualHost>, std::less<>> vhosts_;
  DirectReplyRegistry replies_;
  store::MessageLog* log_ = nullptr;
  store::MessageId next_message_id_ = 1;
  store::Lsn durable_lsn_ = 0;
  std::vector<DurabilityWaiter*> waiters_;
  std::string alarm_reason_;
  std::uint64_t flow_limit_ = 32ull << 20;
  bool flow_held_ = false;
};

}  // namespace sluice::broker
