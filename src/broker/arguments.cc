#include "broker/arguments.h"

#include <fmt/format.h>

#include "broker/errc.h"

namespace sluice::broker {
namespace {

// Queue arguments RabbitMQ 3.10 knows and that change a queue's behaviour, which this version
// does not implement yet. TODO: TTLs, length limits, dead-lettering, priorities and single
// active consumer arrive with the failure-handling work; until then they are refused.
constexpr std::string_view kNotYetImplemented[] = {
    "x-message-ttl",       "x-expires",           "x-max-length",
    "x-max-length-bytes",  "x-overflow",          "x-dead-letter-exchange",
    "x-dead-letter-routing-key", "x-max-priority", "x-single-active-consumer",
    "x-delivery-limit",
};

// Arguments compared on redeclare (RabbitMQ compares the ones it knows, not unknown ones).
constexpr std::string_view kCompared[] = {"x-queue-type", "x-queue-mode"};

std::string_view type_name(const amqp::FieldValue* v) {
  if (v == nullptr) return "none";
  switch (v->value.index()) {
    case 1: return "bool";
    case 12: return "longstr";
    default: return "other";
  }
}

}  // namespace

Result<void> check_exchange_arguments(ExchangeSettings& settings) {
  const amqp::FieldValue* ae = amqp::table_find(settings.arguments, "alternate-exchange");
  if (ae == nullptr) return ok();
  const auto* name = std::get_if<std::string>(&ae->value);
  if (name == nullptr) {
    return Error{errc::precondition_failed,
                 fmt::format("invalid arg 'alternate-exchange' for exchange '{}': expected a "
                             "long string",
                             settings.name)};
  }
  settings.alternate_exchange = *name;
  return ok();
}

Result<void> check_queue_arguments(const amqp::FieldTable& arguments) {
  for (const auto& [key, value] : arguments) {
    for (std::string_view unsupported : kNotYetImplemented) {
      if (key == unsupported) {
        return Error{errc::not_implemented,
                     fmt::format("queue argument '{}' is not supported yet", key)};
      }
    }
    if (key == "x-queue-type") {
      const auto* type = std::get_if<std::string>(&value.value);
      if (type == nullptr || *type != "classic") {
        return Error{errc::not_implemented,
                     "only classic queues are supported (x-queue-type 'classic')"};
      }
    }
  }
  return ok();
}

Result<void> check_queue_arguments_equivalent(const amqp::FieldTable& current,
                                              const amqp::FieldTable& received,
                                              std::string_view queue, std::string_view vhost) {
  for (std::string_view key : kCompared) {
    const amqp::FieldValue* a = amqp::table_find(current, key);
    const amqp::FieldValue* b = amqp::table_find(received, key);
    if ((a == nullptr) != (b == nullptr) || (a != nullptr && !(*a == *b))) {
      return Error{errc::precondition_failed,
                   fmt::format("inequivalent arg '{}' for queue '{}' in vhost '{}': received the "
                               "value of type '{}' but current is of type '{}'",
                               key, queue, vhost, type_name(b), type_name(a))};
    }
  }
  return ok();
}

}  // namespace sluice::broker
