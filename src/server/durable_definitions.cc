#include "server/durable_definitions.h"

#include <fmt/format.h>

#include "amqp/field_table.h"
#include "common/logging.h"

namespace sluice::server {
namespace {

using broker::DefinitionEvent;

Bytes encode_arguments(const amqp::FieldTable& table) {
  Bytes out;
  ByteWriter w(out);
  amqp::encode_table(w, table);
  return out;
}

Result<amqp::FieldTable> decode_arguments(const Bytes& bytes) {
  amqp::FieldTable table;
  if (bytes.empty()) return table;
  ByteReader r(bytes);
  if (auto decoded = amqp::decode_table(r, table); !decoded) return decoded.error();
  return table;
}

bool stored_queue(const broker::QueueSettings& q) { return q.durable && !q.exclusive; }

// The broker's own actor for recreating definitions.
const broker::Actor kRecovery{"", 0};

}  // namespace

DurableDefinitions::DurableDefinitions(std::unique_ptr<store::DefinitionsStore> store)
    : store_(std::move(store)) {}

Result<std::unique_ptr<DurableDefinitions>> DurableDefinitions::open(
    const std::string& data_dir) {
  auto store = store::DefinitionsStore::open(data_dir + "/definitions.db");
  if (!store) return store.error();
  return std::unique_ptr<DurableDefinitions>(new DurableDefinitions(std::move(*store)));
}

Result<RestoreStats> DurableDefinitions::restore(broker::Broker& broker) {
  auto defs = store_->load();
  if (!defs) return defs.error();
  if (defs->vhosts.empty()) {
    if (auto put = store_->put_vhost("/"); !put) return put.error();
  }
  RestoreStats stats;
  broker::VirtualHost* vhost = broker.vhost("/");
  restore_vhost(*vhost, *defs, stats);
  vhost->set_observer([this](DefinitionEvent& e) { return record(e); });
  return stats;
}

void DurableDefinitions::restore_vhost(broker::VirtualHost& vhost, const store::Definitions& defs,
                                       RestoreStats& stats) {
  auto log = log::get("store");
  auto skip = [&](std::string_view what, const std::string& name, const Error& error) {
    log->error("vhost={} cannot restore {} '{}': {}", vhost.name(), what, name, error.detail);
    ++stats.skipped;
  };
  for (const auto& x : defs.exchanges) {
    if (x.vhost != vhost.name()) continue;
    auto args = decode_arguments(x.arguments);
    if (!args) {
      skip("exchange", x.name, args.error());
      continue;
    }
    broker::ExchangeSettings s{.name = x.name, .durable = true, .auto_delete = x.auto_delete,
                               .internal = x.internal, .arguments = std::move(*args)};
    auto declared = vhost.declare_exchange(std::move(s), x.type, false, kRecovery);
    declared ? ++stats.exchanges : (skip("exchange", x.name, declared.error()), 0);
  }
  for (const auto& q : defs.queues) stats.stored_queue_ids.insert(q.id);
  for (const auto& q : defs.queues) {
    if (q.vhost != vhost.name()) continue;
    auto args = decode_arguments(q.arguments);
    if (!args) {
      skip("queue", q.name, args.error());
      continue;
    }
    broker::QueueSettings s{.name = q.name, .durable = true, .auto_delete = q.auto_delete,
                            .arguments = std::move(*args), .store_id = q.id};
    auto declared = vhost.declare_queue(std::move(s), false, kRecovery);
    declared ? ++stats.queues : (skip("queue", q.name, declared.error()), 0);
  }
  for (const auto& b : defs.bindings) {
    if (b.vhost != vhost.name()) continue;
    auto args = decode_arguments(b.arguments);
    if (!args) {
      skip("binding from", b.source, args.error());
      continue;
    }
    auto bound = b.destination_is_queue
                     ? vhost.bind_queue(b.destination, b.source, b.key, *args, kRecovery)
                     : vhost.bind_exchange(b.destination, b.source, b.key, *args, kRecovery);
    bound ? ++stats.bindings : (skip("binding from", b.source, bound.error()), 0);
  }
}

Result<void> DurableDefinitions::record(DefinitionEvent& e) {
  switch (e.kind) {
    case DefinitionEvent::Kind::ExchangeDeclared:
      if (!e.exchange->durable) return ok();
      return store_->put_exchange(store::ExchangeDef{
          .vhost = e.vhost,
          .name = e.exchange->name,
          .type = std::string(broker::exchange_type_name(e.exchange->type)),
          .durable = true,
          .auto_delete = e.exchange->auto_delete,
          .internal = e.exchange->internal,
          .arguments = encode_arguments(e.exchange->arguments)});
    case DefinitionEvent::Kind::ExchangeDeleted:
      if (!e.exchange->durable) return ok();
      return store_->delete_exchange(e.vhost, e.exchange->name);
    case DefinitionEvent::Kind::QueueDeclared: {
      if (!stored_queue(*e.queue)) return ok();
      auto id = store_->put_queue(store::QueueDef{.vhost = e.vhost,
                                                  .name = e.queue->name,
                                                  .durable = true,
                                                  .auto_delete = e.queue->auto_delete,
                                                  .arguments = encode_arguments(e.queue->arguments),
                                                  .id = e.queue->store_id});
      if (!id) return id.error();
      e.queue->store_id = *id;
      return ok();
    }
    case DefinitionEvent::Kind::QueueDeleted:
      if (e.queue->store_id == 0) return ok();
      return store_->delete_queue(e.vhost, e.queue->name);
    case DefinitionEvent::Kind::QueuePurged:
      return ok();  // messages are the message store's business
    case DefinitionEvent::Kind::Bound:
    case DefinitionEvent::Kind::Unbound:
      return record_binding(e);
  }
  return ok();
}

Result<void> DurableDefinitions::record_binding(DefinitionEvent& e) {
  const bool to_queue = e.queue != nullptr;
  const bool durable_destination =
      to_queue ? stored_queue(*e.queue) : e.destination_exchange->durable;
  if (!e.exchange->durable || !durable_destination || e.exchange->name.empty()) return ok();
  store::BindingDef def{.vhost = e.vhost,
                        .source = e.exchange->name,
                        .destination = to_queue ? e.queue->name : e.destination_exchange->name,
                        .destination_is_queue = to_queue,
                        .key = *e.key,
                        .arguments = encode_arguments(*e.arguments)};
  return e.kind == DefinitionEvent::Kind::Bound ? store_->put_binding(def)
                                                : store_->delete_binding(def);
}

}  // namespace sluice::server
