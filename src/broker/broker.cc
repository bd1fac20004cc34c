#include "broker/broker.h"

#include <algorithm>

#include "broker/random_name.h"
#include "store/message_log.h"

namespace sluice::broker {
namespace {

std::string random_token() { return random_name("", 24); }

}  // namespace

std::string DirectReplyRegistry::add(Consumer* consumer) {
  for (;;) {
    std::string address = std::string(kAddressPrefix) + random_token();
    if (consumers_.emplace(address, consumer).second) return address;
  }
}

void DirectReplyRegistry::remove(const std::string& address) { consumers_.erase(address); }

Consumer* DirectReplyRegistry::find(std::string_view address) const {
  auto it = consumers_.find(std::string(address));
  return it == consumers_.end() ? nullptr : it->second;
}

Broker::Broker() { vhosts_.emplace("/", std::make_unique<VirtualHost>("/")); }

void Broker::set_message_log(store::MessageLog* log) {
  log_ = log;
  for (auto& [name, vhost] : vhosts_) vhost->set_message_log(log);
}

void Broker::durable_upto(store::Lsn lsn) {
  if (lsn <= durable_lsn_) return;
  durable_lsn_ = lsn;
  // Waiters may stop waiting (and so change the list) while being told.
  std::vector<DurabilityWaiter*> waiters = waiters_;
  for (DurabilityWaiter* w : waiters) {
    if (std::find(waiters_.begin(), waiters_.end(), w) != waiters_.end()) w->on_durable();
  }
}

void Broker::retry_stalled_queues() {
  // Collected first: a delivery can end in a channel closing and an auto-delete queue going.
  std::vector<QueuePtr> stalled;
  for (auto& [name, vhost] : vhosts_) {
    for (const auto& [queue_name, queue] : vhost->queues()) {
      if (queue->read_stalled()) stalled.push_back(queue);
    }
  }
  for (const QueuePtr& queue : stalled) queue->dispatch();
}

bool Broker::publish_held_by_log() {
  if (log_ == nullptr || log_->unsynced_bytes() <= flow_limit_) return false;
  flow_held_ = true;
  return true;
}

bool Broker::log_caught_up() {
  if (!flow_held_ || log_->unsynced_bytes() > flow_limit_) return false;
  flow_held_ = false;
  return true;
}

void Broker::wait_for_disk(DurabilityWaiter* waiter) {
  if (std::find(waiters_.begin(), waiters_.end(), waiter) == waiters_.end()) {
    waiters_.push_back(waiter);
  }
}

void Broker::stop_waiting(DurabilityWaiter* waiter) { std::erase(waiters_, waiter); }

VirtualHost* Broker::vhost(std::string_view name) {
  auto it = vhosts_.find(name);
  return it == vhosts_.end() ? nullptr : it->second.get();
}

}  // namespace sluice::broker
