#pragma once

// HeadersRouter: matches on the message's headers table against each binding's arguments,
// with RabbitMQ 3.10's rules (see README.md for the details and what was checked):
//
//   x-match = all (the default) | any | all-with-x | any-with-x
//   all: every matchable binding key is present and equal; with no such key, always true.
//   any: at least one is; with no such key, never true.
//   Matchable keys: every key but x-match; for all and any, also not those starting "x-".
//   A binding value of type void matches on presence of the key alone.
//
// Values compare as Erlang's == compares RabbitMQ's decoded values: integers of every width,
// timestamps, floats and doubles by numeric value, exactly; long strings and byte arrays by
// bytes; anything else only with its own type.
//
// route() is O(h log h + sum of binding sizes + bindings x h) for h headers: like RabbitMQ it
// visits every binding.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/binding_list.h"
#include "broker/routing/router.h"
#include "common/result.h"

namespace sluice::broker {

enum class XMatch { All, Any, AllWithX, AnyWithX };

// The checks RabbitMQ makes when a headers binding is created: x-match, when present, must be
// a long string naming one of the four modes. The error is PRECONDITION_FAILED, with
// RabbitMQ's wording. The router itself accepts anything and reads an invalid x-match as
// all, as RabbitMQ does for bindings made before it validated.
Result<void> validate_headers_arguments(const amqp::FieldTable& arguments);

// Whether a header value satisfies a (non-void) binding value.
bool header_values_equal(const amqp::FieldValue& binding, const amqp::FieldValue& header);

class HeadersRouter final : public Router {
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
  // What a binding matches on, worked out once at bind time.
  struct Pattern {
    XMatch mode = XMatch::All;
    // Positions, in the canonical (key-sorted) arguments, of the matchable entries.
    std::vector<std::uint32_t> keys;
  };
  using Bindings = BindingList<Pattern>;
  using Header = amqp::FieldTable::value_type;

  static Pattern make_pattern(const amqp::FieldTable& canonical);
  static bool matches(const Bindings::Entry& binding, const std::vector<const Header*>& sorted);

  Bindings bindings_;
};

}  // namespace sluice::broker
