#include "broker/routing/direct_router.h"

namespace sluice::broker {

bool DirectRouter::bind(BindingTarget* destination, std::string_view key,
                        const amqp::FieldTable& arguments) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) it = by_key_.emplace(std::string(key), BindingList<>{}).first;
  // The list is per key, so the entry itself stores no key.
  if (it->second.insert(destination, {}, canonical_arguments(arguments)) == nullptr) {
    return false;
  }
  destinations_.add(destination, &*it);
  ++count_;
  return true;
}

bool DirectRouter::unbind(BindingTarget* destination, std::string_view key,
                          const amqp::FieldTable& arguments) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return false;
  if (!it->second.erase(destination, {}, canonical_arguments(arguments))) return false;

  destinations_.remove(destination, &*it);
  if (it->second.empty()) by_key_.erase(it);
  --count_;
  return true;
}

void DirectRouter::unbind_all(BindingTarget* destination) {
  for (const auto& [entry, bindings] : destinations_.take(destination)) {
    count_ -= entry->second.erase_all(destination);
    // By iterator: erasing by entry->first would pass a key that the erase destroys.
    if (entry->second.empty()) by_key_.erase(by_key_.find(entry->first));
  }
}

void DirectRouter::route(std::string_view routing_key, const amqp::FieldTable* /*headers*/,
                         std::vector<BindingTarget*>& out) const {
  auto it = by_key_.find(routing_key);
  if (it != by_key_.end()) it->second.append_destinations(out);
}

}  // namespace sluice::broker
