#pragma once

// Validation of the x-arguments of queue.declare and exchange.declare.
//
// Arguments the broker implements are checked for type and range; arguments RabbitMQ knows
// but this version does not implement yet are refused with not_implemented rather than
// accepted and silently ignored; unknown arguments are kept and ignored, as RabbitMQ does.

#include <string_view>

#include "amqp/field_table.h"
#include "broker/exchange.h"
#include "common/result.h"

namespace sluice::broker {

// Validates exchange arguments and fills settings.alternate_exchange.
Result<void> check_exchange_arguments(ExchangeSettings& settings);

Result<void> check_queue_arguments(const amqp::FieldTable& arguments);

// The redeclare check: the arguments RabbitMQ compares must be equal.
Result<void> check_queue_arguments_equivalent(const amqp::FieldTable& current,
                                              const amqp::FieldTable& received,
                                              std::string_view queue, std::string_view vhost);

}  // namespace sluice::broker
