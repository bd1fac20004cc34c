#pragma once

// Server: wires the subsystems together, owns the event loops and listeners, and runs
// start-up and shutdown. Created and driven by main() on the main thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_set>

#include "amqp/connection.h"
#include "amqp/connection_registry.h"
#include "auth/access_control.h"
#include "broker/broker.h"
#include "common/result.h"
#include "config/config.h"
#include "net/io_pool.h"
#include "net/listener.h"
#include "server/data_dir.h"
#include "server/durable_definitions.h"
#include "server/resource_monitor.h"
#include "store/message_log.h"

namespace sluice::server {

class Server {
 public:
  explicit Server(config::Config config);
  ~Server();

  // Prepares the data directory, binds the listeners and starts the event loops. The error
  // says what failed and where (a port in use, a data directory that cannot be written).
  Result<void> start();

  // Sends every client connection.close 320 CONNECTION_FORCED, waits (bounded) for them to
  // go, then stops the loops. Idempotent.
  void stop();

 private:
  void on_accept(asio::ip::tcp::socket socket);
  Result<void> restore_definitions();
  Result<void> recover_messages();
  void resume_if_log_caught_up();  // on the broker loop

  config::Config config_;
  net::IoPool pool_;
  auth::AccessControl access_;
  broker::Broker broker_;
  amqp::ConnectionRegistry registry_;
  std::unordered_set<std::uint64_t> stored_queue_ids_;  // from the definitions store
  amqp::ConnectionContext amqp_context_;
  DataDir data_dir_;
  std::unique_ptr<DurableDefinitions> definitions_;
  std::unique_ptr<store::MessageLog> message_log_;
  std::unique_ptr<ResourceMonitor> monitor_;
  std::unique_ptr<net::Listener> amqp_listener_;
  std::atomic<std::uint64_t> next_connection_id_{1};
  bool running_ = false;
};

}  // namespace sluice::server
