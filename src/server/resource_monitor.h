#pragma once

// ResourceMonitor: the memory and disk alarms.
//
// Every kInterval it compares the process's resident memory with the memory limit and the
// free space of the data directory's file system with the disk free limit. While either is
// crossed the broker's resource alarm is on: connections that publish stop being read (and
// are told with connection.blocked when they asked for it), while consumers keep draining.
// When both clear, blocked connections are resumed (connection.unblocked).
//
// Runs on the broker loop; started by the server after the listeners are up.

#include <chrono>
#include <cstdint>
#include <string>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "amqp/connection_registry.h"
#include "broker/broker.h"

namespace sluice::server {

class ResourceMonitor {
 public:
  static constexpr std::chrono::milliseconds kInterval{250};

  ResourceMonitor(asio::io_context& loop, broker::Broker& broker,
                  amqp::ConnectionRegistry& registry, std::string data_dir,
                  std::uint64_t memory_limit, std::uint64_t disk_free_limit);

  void start();
  void stop();

  // The memory limit in force, from a fraction of physical memory.
  static std::uint64_t memory_limit_from_fraction(double fraction);

 private:
  void check();
  void schedule();

  asio::steady_timer timer_;
  broker::Broker& broker_;
  amqp::ConnectionRegistry& registry_;
  const std::string data_dir_;
  const std::uint64_t memory_limit_;
  const std::uint64_t disk_free_limit_;
  bool memory_alarm_ = false;
  bool disk_alarm_ = false;
};

}  // namespace sluice::server
