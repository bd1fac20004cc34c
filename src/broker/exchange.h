#pragma once

// Exchange: a named router plus the list of its bindings.
//
// Owned by its VirtualHost; used only on the broker loop. The Router does the matching; the
// binding list is the record of what was bound (for listing, for equality on unbind, and for
// cleaning up when a destination is deleted).

#include <memory>
#include <string>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/router.h"

namespace sluice::broker {

struct ExchangeSettings {
  std::string name;
  ExchangeType type = ExchangeType::Direct;
  bool durable = false;
  bool auto_delete = false;
  bool internal = false;
  amqp::FieldTable arguments;
  std::string alternate_exchange;  // from the alternate-exchange argument, "" if none
};

// One binding as declared; `destination` is non-owning and cleared when it is deleted.
struct Binding {
  BindingTarget* destination = nullptr;
  std::string destination_name;
  std::string key;
  amqp::FieldTable arguments;
};

struct ExchangeStats {
  std::uint64_t published_in = 0;
  std::uint64_t published_out = 0;
};

class Exchange : public BindingTarget {
 public:
  explicit Exchange(ExchangeSettings settings);

  const ExchangeSettings& settings() const { return settings_; }
  const std::string& name() const { return settings_.name; }
  const std::vector<Binding>& bindings() const { return bindings_; }
  ExchangeStats& stats() { return stats_; }

  // Returns false if the same binding exists already.
  bool bind(BindingTarget* destination, const std::string& destination_name,
            const std::string& key, const amqp::FieldTable& arguments);
  // Returns false if there was no such binding.
  bool unbind(BindingTarget* destination, const std::string& key,
              const amqp::FieldTable& arguments);
  // Removes every binding to `destination`; returns how many.
  std::size_t unbind_all(BindingTarget* destination);

  void route(std::string_view key, const amqp::FieldTable* headers,
             std::vector<BindingTarget*>& out) const {
    router_->route(key, headers, out);
  }

 private:
  ExchangeSettings settings_;
  std::unique_ptr<Router> router_;
  std::vector<Binding> bindings_;
  ExchangeStats stats_;
};

using ExchangePtr = std::shared_ptr<Exchange>;

// "direct", "fanout", "topic", "headers"; false for anything else.
bool parse_exchange_type(std::string_view text, ExchangeType& out);
std::string_view exchange_type_name(ExchangeType type);

}  // namespace sluice::broker
