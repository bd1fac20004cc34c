#include "amqp/connection_registry.h"

namespace sluice::amqp {

void ConnectionRegistry::add(std::uint64_t id, std::weak_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  connections_.emplace(id, std::move(connection));
}

void ConnectionRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  connections_.erase(id);
}

std::size_t ConnectionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

std::vector<std::shared_ptr<Connection>> ConnectionRegistry::snapshot() const {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, weak] : connections_) {
    if (auto c = weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sluice::amqp
