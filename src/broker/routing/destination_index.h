#pragma once

// DestinationIndex: for each destination, the binding lists of a router that hold at least one
// of its bindings, with a count. It lets unbind_all() visit only those lists instead of every
// list in the router, which matters when many short-lived queues come and go on an exchange
// with many bindings. Not thread-safe; owned by its router.

#include <cstdint>
#include <unordered_map>
#include <utility>

#include "broker/routing/router.h"

namespace sluice::broker {

template <class List>
class DestinationIndex {
 public:
  using Lists = std::unordered_map<List*, std::uint32_t>;

  void add(BindingTarget* destination, List* list) { ++lists_[destination][list]; }

  void remove(BindingTarget* destination, List* list) {
    auto it = lists_.find(destination);
    if (it == lists_.end()) return;
    auto found = it->second.find(list);
    if (found != it->second.end() && --found->second == 0) it->second.erase(found);
    if (it->second.empty()) lists_.erase(it);
  }

  // Forgets `destination` and returns the lists that held its bindings.
  Lists take(BindingTarget* destination) {
    auto it = lists_.find(destination);
    if (it == lists_.end()) return {};
    Lists lists = std::move(it->second);
    lists_.erase(it);
    return lists;
  }

 private:
  std::unordered_map<BindingTarget*, Lists> lists_;
};

}  // namespace sluice::broker
