#pragma once

// FanoutRouter: every binding matches, whatever the routing key and headers.
//
// One flat list: route() is linear in the number of bindings, which is also the size of its
// output. The key is kept only because it is part of a binding's identity. See README.md.

#include <cstddef>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/binding_list.h"
#include "broker/routing/router.h"

namespace sluice::broker {

class FanoutRouter final : public Router {
 public:
  bool bind(BindingTarget* destination, std::string_view key,
            const amqp::FieldTable& arguments) override;
  bool unbind(BindingTarget* destination, std::string_view key,
              const amqp::FieldTable& arguments) override;
  void unbind_all(BindingTarget* destination) override;
  void route(std::string_view routing_key, const amqp::FieldTable* headers,
             std::vector<BindingTarget*>& out) const override;
  std::size_t binding_count() const override { return bindings_.size(); }

 private:
  BindingList<> bindings_;
};

}  // namespace sluice::broker
