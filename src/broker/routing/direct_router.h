#pragma once

// DirectRouter: a binding matches when its key equals the routing key, byte for byte.
//
// A hash map from key to the list of that key's bindings: route() is one look-up plus the
// matching bindings; bind and unbind are O(key length) amortised. See README.md.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/binding_list.h"
#include "broker/routing/destination_index.h"
#include "broker/routing/router.h"

namespace sluice::broker {

// Lets the key maps be searched with a string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class DirectRouter final : public Router {
 public:
  bool bind(BindingTarget* destination, std::string_view key,
            const amqp::FieldTable& arguments) override;
  bool unbind(BindingTarget* destination, std::string_view key,
              const amqp::FieldTable& arguments) override;
  void unbind_all(BindingTarget* destination) override;
  void route(std::string_view routing_key, const amqp::FieldTable* headers,
             std::vector<BindingTarget*>& out) const override;
  std::size_t binding_count() const override { return count_; }

 private:
  using KeyMap = std::unordered_map<std::string, BindingList<>, StringHash, std::equal_to<>>;
  // The map's elements do not move on rehash, so the index can point at them.
  using KeyEntry = KeyMap::value_type;

  KeyMap by_key_;
  DestinationIndex<KeyEntry> destinations_;
  std::size_t count_ = 0;
};

}  // namespace sluice::broker
