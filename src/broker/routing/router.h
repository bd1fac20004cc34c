#pragma once

// Router: the matching half of an exchange. Given a routing key (and headers, for the headers
// type) it finds the destinations of the bindings that match.
//
// A router stores non-owning pointers to its destinations (queues or exchanges); whoever
// deletes a destination first calls unbind_all() on every router that may hold it. Routers
// are used by the broker's loop only and are not thread-safe.
//
// route() may report one destination more than once (several bindings can match the same
// queue); the caller removes duplicates, as it must anyway across exchange-to-exchange hops.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"

namespace sluice::broker {

// Anything a binding can point at: a queue or an exchange. The broker's Queue and Exchange
// derive from it.
struct BindingTarget {
  enum class Kind { Queue, Exchange };
  explicit BindingTarget(Kind k) : kind(k) {}
  virtual ~BindingTarget() = default;

  const Kind kind;
  // Used by the router's caller to de-duplicate destinations within one routing pass.
  std::uint64_t route_epoch = 0;
};

enum class ExchangeType { Direct, Fanout, Topic, Headers };

class Router {
 public:
  virtual ~Router() = default;

  // Adds a binding. Returns false, changing nothing, if the same (destination, key,
  // arguments) binding exists already.
  virtual bool bind(BindingTarget* destination, std::string_view key,
                    const amqp::FieldTable& arguments) = 0;
  // Removes a binding. Returns false if there was no such binding.
  virtual bool unbind(BindingTarget* destination, std::string_view key,
                      const amqp::FieldTable& arguments) = 0;
  // Removes every binding to `destination`.
  virtual void unbind_all(BindingTarget* destination) = 0;

  // Appends the destinations of matching bindings to `out`. `headers` is the message's headers
  // table, or null when it has none.
  virtual void route(std::string_view routing_key, const amqp::FieldTable* headers,
                     std::vector<BindingTarget*>& out) const = 0;

  virtual std::size_t binding_count() const = 0;
};

std::unique_ptr<Router> make_router(ExchangeType type);

}  // namespace sluice::broker
