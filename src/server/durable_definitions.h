#pragma once

// DurableDefinitions: keeps the broker's durable exchanges, queues and bindings in the
// definitions store (SQLite, data_dir/definitions.db), and recreates them at start-up.
//
// It observes every vhost: a durable declare, delete, bind or unbind is committed (and
// fsynced) before the vhost applies it, so the client's declare-ok promises what is on disk.
// What is durable follows RabbitMQ: durable exchanges; durable, non-exclusive queues; and
// bindings whose source and destination are both durable. The default exchange's implicit
// bindings are never stored.
//
// Lives on the broker loop, like the vhosts it observes; created by the server at start-up.

#include <memory>
#include <string>
#include <unordered_set>

#include "broker/broker.h"
#include "common/result.h"
#include "store/definitions_store.h"

namespace sluice::server {

struct RestoreStats {
  std::size_t exchanges = 0;
  std::size_t queues = 0;
  std::size_t bindings = 0;
  std::size_t skipped = 0;  // records that could not be applied (logged one by one)
  // Every queue in the store, restored or skipped: messages of the others belong to queues
  // that were deleted.
  std::unordered_set<std::uint64_t> stored_queue_ids;
};

class DurableDefinitions {
 public:
  static Result<std::unique_ptr<DurableDefinitions>> open(const std::string& data_dir);

  // Recreates the stored definitions in `broker`, then starts observing its vhosts. Call
  // once, before any client connects.
  Result<RestoreStats> restore(broker::Broker& broker);

 private:
  explicit DurableDefinitions(std::unique_ptr<store::DefinitionsStore> store);

  Result<void> record(broker::DefinitionEvent& event);
  Result<void> record_binding(broker::DefinitionEvent& event);
  void restore_vhost(broker::VirtualHost& vhost, const store::Definitions& defs,
                     RestoreStats& stats);

  std::unique_ptr<store::DefinitionsStore> store_;
};

}  // namespace sluice::server
