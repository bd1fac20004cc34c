#include "broker/routing/fanout_router.h"

namespace sluice::broker {

bool FanoutRouter::bind(BindingTarget* destination, std::string_view key,
                        const amqp::FieldTable& arguments) {
  return bindings_.insert(destination, key, canonical_arguments(arguments)) != nullptr;
}

bool FanoutRouter::unbind(BindingTarget* destination, std::string_view key,
                          const amqp::FieldTable& arguments) {
  return bindings_.erase(destination, key, canonical_arguments(arguments));
}

void FanoutRouter::unbind_all(BindingTarget* destination) { bindings_.erase_all(destination); }

void FanoutRouter::route(std::string_view /*routing_key*/, const amqp::FieldTable* /*headers*/,
                         std::vector<BindingTarget*>& out) const {
  bindings_.append_destinations(out);
}

}  // namespace sluice::broker
