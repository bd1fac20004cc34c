#pragma once

// ConnectionRegistry: every live AMQP connection, for shutdown and (later) the management
// API. Connections add themselves when they start and remove themselves when they end.
// Thread-safe; the lock is held only to touch the map, never while calling a connection.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::amqp {

class Connection;

class ConnectionRegistry {
 public:
  void add(std::uint64_t id, std::weak_ptr<Connection> connection);
  void remove(std::uint64_t id);
  std::size_t size() const;
  // A snapshot of the live connections; the caller may act on them without holding the lock.
  std::vector<std::shared_ptr<Connection>> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections_;
};

}  // namespace sluice::amqp
