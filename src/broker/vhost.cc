#include "broker/vhost.h"


#include <fmt/format.h>

#include "broker/arguments.h"
#include "broker/errc.h"
#include "broker/random_name.h"
#include "broker/routing/headers_router.h"

namespace sluice::broker {
namespace {

constexpr int kMaxExchangeHops = 32;

Error error(errc code, std::string detail) { return Error{code, std::move(detail)}; }

bool reserved_name(std::string_view name) { return name.starts_with("amq."); }

std::string_view yes_no(bool b) { return b ? "true" : "false"; }

Error inequivalent(std::string_view what, std::string_view field, std::string_view name,
                   std::string_view vhost, std::string_view received,
                   std::string_view current) {
  return error(errc::precondition_failed,
               fmt::format("inequivalent arg '{}' for {} '{}' in vhost '{}': received '{}' but "
                           "current is '{}'",
                           field, what, name, vhost, received, current));
}

}  // namespace

VirtualHost::VirtualHost(std::string name) : name_(std::move(name)) {
  // The default exchange and the predeclared exchanges every RabbitMQ vhost has.
  const std::pair<const char*, ExchangeType> predeclared[] = {
      {"", ExchangeType::Direct},           {"amq.direct", ExchangeType::Direct},
      {"amq.fanout", ExchangeType::Fanout}, {"amq.topic", ExchangeType::Topic},
      {"amq.headers", ExchangeType::Headers}, {"amq.match", ExchangeType::Headers},
  };
  for (const auto& [ename, type] : predeclared) {
    ExchangeSettings s;
    s.name = ename;
    s.type = type;
    s.durable = true;
    auto exchange = std::make_shared<Exchange>(std::move(s));
    exchanges_.emplace(exchange->name(), std::move(exchange));
  }
}

Result<void> VirtualHost::notify(DefinitionEvent event) {
  if (!observer_) return ok();
  return observer_(event);
}

Result<void> VirtualHost::notify_binding(DefinitionEvent::Kind kind, const Exchange& source,
                                         BindingTarget* destination, const std::string& key,
                                         const amqp::FieldTable& arguments, const Actor* actor) {
  DefinitionEvent event{.kind = kind, .vhost = name_, .exchange = &source.settings(),
                        .key = &key, .arguments = &arguments, .actor = actor};
  if (destination->kind == BindingTarget::Kind::Queue) {
    event.queue = &static_cast<Queue*>(destination)->mutable_settings();
  } else {
    event.destination_exchange = &static_cast<Exchange*>(destination)->settings();
  }
  return notify(event);
}

// --- Exchanges --------------------------------------------------------------------------

Result<ExchangePtr> VirtualHost::declare_exchange(ExchangeSettings settings,
                                                  std::string_view type_name, bool passive,
                                                  const Actor& actor) {
  auto existing = find_exchange(settings.name);
  if (passive && settings.name.empty()) {
    return error(errc::access_refused, "operation not permitted on the default exchange");
  }
  if (passive) {
    if (!existing) {
      return error(errc::not_found,
                   fmt::format("no exchange '{}' in vhost '{}'", settings.name, name_));
    }
    return existing;
  }
  if (!parse_exchange_type(type_name, settings.type)) {
    return error(errc::command_invalid, fmt::format("unknown exchange type '{}'", type_name));
  }
  if (settings.name.empty()) {
    return error(errc::access_refused, "operation not permitted on the default exchange");
  }
  if (auto checked = check_exchange_arguments(settings); !checked) return checked.error();
  if (existing) {
    const ExchangeSettings& cur = existing->settings();
    const auto ineq = [&](std::string_view field, std::string_view received,
                          std::string_view current) {
      return inequivalent("exchange", field, settings.name, name_, received, current);
    };
    if (cur.type != settings.type) {
      return ineq("type", exchange_type_name(settings.type), exchange_type_name(cur.type));
    }
    if (cur.durable != settings.durable) {
      return ineq("durable", yes_no(settings.durable), yes_no(cur.durable));
    }
    if (cur.auto_delete != settings.auto_delete) {
      return ineq("auto_delete", yes_no(settings.auto_delete), yes_no(cur.auto_delete));
    }
    if (cur.internal != settings.internal) {
      return ineq("internal", yes_no(settings.internal), yes_no(cur.internal));
    }
    if (cur.alternate_exchange != settings.alternate_exchange) {
      return ineq("alternate-exchange", settings.alternate_exchange, cur.alternate_exchange);
    }
    return existing;
  }
  if (reserved_name(settings.name)) {
    return error(errc::access_refused,
                 fmt::format("exchange name '{}' contains reserved prefix 'amq.*'",
                             settings.name));
  }
  if (auto stored = notify({.kind = DefinitionEvent::Kind::ExchangeDeclared, .vhost = name_,
                            .exchange = &settings, .actor = &actor});
      !stored) {
    return stored.error();
  }
  auto exchange = std::make_shared<Exchange>(std::move(settings));
  exchanges_.emplace(exchange->name(), exchange);
  return exchange;
}

Result<void> VirtualHost::delete_exchange(const std::string& name, bool if_unused,
                                          const Actor& actor) {
  if (name.empty()) {
    return error(errc::access_refused, "operation not permitted on the default exchange");
  }
  if (reserved_name(name)) {
    return error(errc::access_refused,
                 fmt::format("deletion of system exchange '{}' in vhost '{}' not allowed", name,
                             name_));
  }
  auto it = exchanges_.find(name);
  if (it == exchanges_.end()) return ok();  // deleting what is not there succeeds, as RabbitMQ
  ExchangePtr exchange = it->second;
  if (if_unused && !exchange->bindings().empty()) {
    return error(errc::precondition_failed,
                 fmt::format("exchange '{}' in vhost '{}' in use", name, name_));
  }
  if (auto stored = notify({.kind = DefinitionEvent::Kind::ExchangeDeleted, .vhost = name_,
                            .exchange = &exchange->settings(), .actor = &actor});
      !stored) {
    return stored;
  }
  exchanges_.erase(it);
  remove_bindings_to(exchange.get());
  return ok();
}

QueuePtr VirtualHost::find_queue_by_store_id(std::uint64_t store_id) const {
  for (const auto& [name, queue] : queues_) {
    if (queue->settings().store_id == store_id) return queue;
  }
  return nullptr;
}

ExchangePtr VirtualHost::find_exchange(const std::string& name) const {
  auto it = exchanges_.find(name);
  return it == exchanges_.end() ? nullptr : it->second;
}

// --- Queues -----------------------------------------------------------------------------

Result<QueueDeclared> VirtualHost::declare_queue(QueueSettings settings, bool passive,
                                                 const Actor& actor) {
  if (passive) {
    auto queue = queue_for(settings.name, actor);
    if (!queue) return queue.error();
    return QueueDeclared{*queue, (*queue)->message_count(), (*queue)->consumer_count()};
  }
  const bool server_named = settings.name.empty();
  if (server_named) settings.name = generate_queue_name();
  if (auto checked = check_queue_arguments(settings.arguments); !checked) {
    return checked.error();
  }

  if (auto it = queues_.find(settings.name); it != queues_.end()) {
    auto queue = queue_for(settings.name, actor);
    if (!queue) return queue.error();
    const QueueSettings& cur = (*queue)->settings();
    const auto ineq = [&](std::string_view field, bool received, bool current) {
      return inequivalent("queue", field, settings.name, name_, yes_no(received),
                          yes_no(current));
    };
    if (cur.durable != settings.durable) return ineq("durable", settings.durable, cur.durable);
    if (cur.exclusive != settings.exclusive) {
      return ineq("exclusive", settings.exclusive, cur.exclusive);
    }
    if (cur.auto_delete != settings.auto_delete) {
      return ineq("auto_delete", settings.auto_delete, cur.auto_delete);
    }
    if (auto same = check_queue_arguments_equivalent(cur.arguments, settings.arguments,
                                                     settings.name, name_);
        !same) {
      return same.error();
    }
    return QueueDeclared{*queue, (*queue)->message_count(), (*queue)->consumer_count()};
  }

  if (reserved_name(settings.name) && !server_named) {
    return error(errc::access_refused,
                 fmt::format("queue name '{}' contains reserved prefix 'amq.*'", settings.name));
  }
  settings.owner_connection = settings.exclusive ? actor.connection_id : 0;
  if (auto stored = notify({.kind = DefinitionEvent::Kind::QueueDeclared, .vhost = name_,
                            .queue = &settings, .actor = &actor});
      !stored) {
    return stored.error();
  }
  auto queue = std::make_shared<Queue>(std::move(settings));
  if (log_ != nullptr) queue->attach_log(log_);
  queues_.emplace(queue->name(), queue);

  // Every queue is bound to the default exchange by its name; that binding is implicit
  // (route() looks the queue up by key) and cannot be removed.
  return QueueDeclared{queue, 0, 0};
}

Result<QueuePtr> VirtualHost::queue_for(const std::string& name, const Actor& actor) const {
  auto it = queues_.find(name);
  if (it == queues_.end()) {
    return error(errc::not_found, fmt::format("no queue '{}' in vhost '{}'", name, name_));
  }
  const QueueSettings& s = it->second->settings();
  if (s.exclusive && s.owner_connection != actor.connection_id) {
    return error(errc::resource_locked,
                 fmt::format("cannot obtain exclusive access to locked queue '{}' in vhost "
                             "'{}'. It could be originally declared on another connection or "
                             "the exclusive property value does not match that of the "
                             "original declaration.",
                             name, name_));
  }
  return it->second;
}

Result<std::size_t> VirtualHost::delete_queue(const std::string& name, bool if_unused,
                                              bool if_empty, const Actor& actor) {
  if (queues_.find(name) == queues_.end()) return std::size_t{0};  // idempotent, as RabbitMQ
  auto queue = queue_for(name, actor);
  if (!queue) return queue.error();
  if (if_unused && (*queue)->consumer_count() > 0) {
    return error(errc::precondition_failed,
                 fmt::format("queue '{}' in vhost '{}' in use", name, name_));
  }
  if (if_empty && (*queue)->message_count() > 0) {
    return error(errc::precondition_failed,
                 fmt::format("queue '{}' in vhost '{}' is not empty", name, name_));
  }
  const std::size_t count = (*queue)->message_count();
  QueuePtr keep = *queue;
  if (auto deleted = delete_queue_internal(keep, &actor); !deleted) return deleted.error();
  return count;
}

Result<void> VirtualHost::delete_queue_internal(const QueuePtr& queue, const Actor* actor) {
  if (queue->deleted()) return ok();
  if (auto stored = notify({.kind = DefinitionEvent::Kind::QueueDeleted, .vhost = name_,
                            .queue = &queue->mutable_settings(), .actor = actor});
      !stored) {
    return stored;
  }
  queues_.erase(queue->name());
  remove_bindings_to(queue.get());
  queue->mark_deleted();
  return ok();
}

Result<std::size_t> VirtualHost::purge_queue(const std::string& name, const Actor& actor) {
  auto queue = queue_for(name, actor);
  if (!queue) return queue.error();
  if (auto stored = notify({.kind = DefinitionEvent::Kind::QueuePurged, .vhost = name_,
                            .queue = &(*queue)->mutable_settings(), .actor = &actor});
      !stored) {
    return stored.error();
  }
  return (*queue)->purge();
}

void VirtualHost::connection_closed(std::uint64_t connection_id) {
  std::vector<QueuePtr> owned;
  for (const auto& [name, queue] : queues_) {
    if (queue->settings().exclusive && queue->settings().owner_connection == connection_id) {
      owned.push_back(queue);
    }
  }
  // Exclusive queues are never stored, so deleting them cannot fail on the disk.
  for (const auto& q : owned) (void)delete_queue_internal(q);
}

std::string VirtualHost::generate_queue_name() {
  // amq.gen- followed by 22 random characters, like RabbitMQ's.
  for (;;) {
    std::string name = random_name("amq.gen-", 22);
    if (queues_.find(name) == queues_.end()) return name;
  }
}

// --- Bindings ---------------------------------------------------------------------------

Result<ExchangePtr> VirtualHost::exchange_for_binding(const std::string& name) const {
  if (name.empty()) {
    return error(errc::access_refused, "operation not permitted on the default exchange");
  }
  auto exchange = find_exchange(name);
  if (!exchange) {
    return error(errc::not_found, fmt::format("no exchange '{}' in vhost '{}'", name, name_));
  }
  return exchange;
}

Result<void> VirtualHost::bind_queue(const std::string& queue, const std::string& exchange,
                                     const std::string& key, const amqp::FieldTable& arguments,
                                     const Actor& actor) {
  auto source = exchange_for_binding(exchange);
  if (!source) return source.error();
  auto destination = queue_for(queue, actor);
  if (!destination) return destination.error();
  if (auto valid = check_binding_arguments(**source, arguments); !valid) return valid;
  return bind(**source, destination->get(), queue, key, arguments, actor);
}

Result<void> VirtualHost::unbind_queue(const std::string& queue, const std::string& exchange,
                                       const std::string& key,
                                       const amqp::FieldTable& arguments, const Actor& actor) {
  auto source = exchange_for_binding(exchange);
  if (!source) return source.error();
  auto destination = queue_for(queue, actor);
  if (!destination) return destination.error();
  return unbind(*source, destination->get(), queue, key, arguments, actor);
}

Result<void> VirtualHost::bind_exchange(const std::string& destination,
                                        const std::string& source, const std::string& key,
                                        const amqp::FieldTable& arguments, const Actor& actor) {
  auto src = exchange_for_binding(source);
  if (!src) return src.error();
  auto dst = exchange_for_binding(destination);
  if (!dst) return dst.error();
  if (auto valid = check_binding_arguments(**src, arguments); !valid) return valid;
  return bind(**src, dst->get(), destination, key, arguments, actor);
}

Result<void> VirtualHost::unbind_exchange(const std::string& destination,
                                          const std::string& source, const std::string& key,
                                          const amqp::FieldTable& arguments,
                                          const Actor& actor) {
  auto src = exchange_for_binding(source);
  if (!src) return src.error();
  auto dst = exchange_for_binding(destination);
  if (!dst) return dst.error();
  return unbind(*src, dst->get(), destination, key, arguments, actor);
}

// Binds, then records; a binding that could not be recorded is taken back.
Result<void> VirtualHost::bind(Exchange& source, BindingTarget* destination,
                               const std::string& destination_name, const std::string& key,
                               const amqp::FieldTable& arguments, const Actor& actor) {
  if (!source.bind(destination, destination_name, key, arguments)) return ok();  // existed
  auto stored = notify_binding(DefinitionEvent::Kind::Bound, source, destination, key,
                               arguments, &actor);
  if (!stored) source.unbind(destination, key, arguments);
  return stored;
}

Result<void> VirtualHost::unbind(const ExchangePtr& source, BindingTarget* destination,
                                 const std::string& destination_name, const std::string& key,
                                 const amqp::FieldTable& arguments, const Actor& actor) {
  if (!source->unbind(destination, key, arguments)) return ok();  // RabbitMQ: unbind-ok anyway
  auto stored = notify_binding(DefinitionEvent::Kind::Unbound, *source, destination, key,
                               arguments, &actor);
  if (!stored) {
    source->bind(destination, destination_name, key, arguments);
    return stored;
  }
  maybe_auto_delete(source);
  return ok();
}

// Headers exchanges validate x-match when a binding is made, as RabbitMQ does.
Result<void> VirtualHost::check_binding_arguments(const Exchange& source,
                                                  const amqp::FieldTable& arguments) {
  if (source.settings().type != ExchangeType::Headers) return ok();
  auto valid = validate_headers_arguments(arguments);
  if (!valid) return error(errc::precondition_failed, valid.error().detail);
  return ok();
}

void VirtualHost::remove_bindings_to(BindingTarget* destination) {
  std::vector<ExchangePtr> emptied;
  for (const auto& [name, exchange] : exchanges_) {
    if (exchange->unbind_all(destination) > 0) emptied.push_back(exchange);
  }
  for (const auto& e : emptied) maybe_auto_delete(e);
}

// An auto-delete exchange goes when its last binding (as source) goes.
void VirtualHost::maybe_auto_delete(const ExchangePtr& exchange) {
  if (!exchange->settings().auto_delete || !exchange->bindings().empty()) return;
  auto it = exchanges_.find(exchange->name());
  if (it == exchanges_.end() || it->second != exchange) return;
  // NOTE: if the store refuses, the exchange stays (empty) rather than diverge from disk.
  if (!notify({.kind = DefinitionEvent::Kind::ExchangeDeleted, .vhost = name_,
               .exchange = &exchange->settings()})) {
    return;
  }
  exchanges_.erase(it);
  remove_bindings_to(exchange.get());
}

// --- Routing ----------------------------------------------------------------------------

void VirtualHost::route(const Exchange& exchange, const std::vector<std::string_view>& keys,
                        const amqp::FieldTable* headers, std::vector<QueuePtr>& out) {
  ++route_epoch_;
  route_exchange(exchange, keys, headers, out, 0);
}

void VirtualHost::route_exchange(const Exchange& exchange,
                                 const std::vector<std::string_view>& keys,
                                 const amqp::FieldTable* headers, std::vector<QueuePtr>& out,
                                 int depth) {
  const std::size_t before = out.size();
  if (exchange.name().empty()) {
    // The default exchange: every queue is bound by its own name.
    for (std::string_view key : keys) {
      auto it = queues_.find(key);
      if (it != queues_.end() && it->second->route_epoch != route_epoch_) {
        it->second->route_epoch = route_epoch_;
        out.push_back(it->second);
      }
    }
    return;
  }

  std::vector<BindingTarget*> matched;
  for (std::string_view key : keys) exchange.route(key, headers, matched);
  std::vector<const Exchange*> next_hops;
  for (BindingTarget* target : matched) {
    if (target->route_epoch == route_epoch_) continue;
    target->route_epoch = route_epoch_;
    if (target->kind == BindingTarget::Kind::Queue) {
      out.push_back(static_cast<Queue*>(target)->shared_from_this());
    } else {
      next_hops.push_back(static_cast<const Exchange*>(target));
    }
  }
  if (depth < kMaxExchangeHops) {
    for (const Exchange* next : next_hops) route_exchange(*next, keys, headers, out, depth + 1);
  }

  // Nothing matched here: the alternate exchange gets its chance.
  if (out.size() == before && matched.empty() && !exchange.settings().alternate_exchange.empty()) {
    auto ae = find_exchange(exchange.settings().alternate_exchange);
    if (ae && ae->route_epoch != route_epoch_ && depth < kMaxExchangeHops) {
      ae->route_epoch = route_epoch_;
      route_exchange(*ae, keys, headers, out, depth + 1);
    }
  }
}

}  // namespace sluice::broker
