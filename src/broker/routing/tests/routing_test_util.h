#pragma once

// Helpers for the router tests: named destinations, and route() results as sorted names.

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/router.h"

namespace sluice::broker::testing {

struct NamedTarget : BindingTarget {
  explicit NamedTarget(std::string n) : BindingTarget(Kind::Queue), name(std::move(n)) {}
  std::string name;
};

// Creates destinations on first use and keeps them alive for the test.
class Targets {
 public:
  BindingTarget* operator()(const std::string& name) {
    auto& slot = targets_[name];
    if (!slot) slot = std::make_unique<NamedTarget>(name);
    return slot.get();
  }

 private:
  std::map<std::string, std::unique_ptr<NamedTarget>> targets_;
};

// The names of the destinations route() reports, sorted, repeats kept.
inline std::vector<std::string> routed(const Router& router, std::string_view key,
                                       const amqp::FieldTable* headers = nullptr) {
  std::vector<BindingTarget*> out;
  router.route(key, headers, out);
  std::vector<std::string> names;
  for (BindingTarget* t : out) names.push_back(static_cast<NamedTarget*>(t)->name);
  std::sort(names.begin(), names.end());
  return names;
}

// The same, with duplicates removed, as the broker delivers.
inline std::vector<std::string> routed_unique(const Router& router, std::string_view key,
                                              const amqp::FieldTable* headers = nullptr) {
  std::vector<std::string> names = routed(router, key, headers);
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

using Names = std::vector<std::string>;

inline const amqp::FieldTable kNoArguments{};

}  // namespace sluice::broker::testing
