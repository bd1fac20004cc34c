#include "broker/exchange.h"

#include <algorithm>

namespace sluice::broker {

Exchange::Exchange(ExchangeSettings settings)
    : BindingTarget(Kind::Exchange),
      settings_(std::move(settings)),
      router_(make_router(settings_.type)) {}

bool Exchange::bind(BindingTarget* destination, const std::string& destination_name,
                    const std::string& key, const amqp::FieldTable& arguments) {
  if (!router_->bind(destination, key, arguments)) return false;
  bindings_.push_back(Binding{destination, destination_name, key, arguments});
  return true;
}

bool Exchange::unbind(BindingTarget* destination, const std::string& key,
                      const amqp::FieldTable& arguments) {
  if (!router_->unbind(destination, key, arguments)) return false;
  auto it = std::find_if(bindings_.begin(), bindings_.end(), [&](const Binding& b) {
    return b.destination == destination && b.key == key && b.arguments == arguments;
  });
  if (it != bindings_.end()) bindings_.erase(it);
  return true;
}

std::size_t Exchange::unbind_all(BindingTarget* destination) {
  router_->unbind_all(destination);
  const auto before = bindings_.size();
  std::erase_if(bindings_, [&](const Binding& b) { return b.destination == destination; });
  return before - bindings_.size();
}

bool parse_exchange_type(std::string_view text, ExchangeType& out) {
  static constexpr std::pair<std::string_view, ExchangeType> kTypes[] = {
      {"direct", ExchangeType::Direct},
      {"fanout", ExchangeType::Fanout},
      {"topic", ExchangeType::Topic},
      {"headers", ExchangeType::Headers},
  };
  for (const auto& [name, type] : kTypes) {
    if (name == text) {
      out = type;
      return true;
    }
  }
  return false;
}

std::string_view exchange_type_name(ExchangeType type) {
  switch (type) {
    case ExchangeType::Direct: return "direct";
    case ExchangeType::Fanout: return "fanout";
    case ExchangeType::Topic: return "topic";
    case ExchangeType::Headers: return "headers";
  }
  return "direct";
}

}  // namespace sluice::broker
