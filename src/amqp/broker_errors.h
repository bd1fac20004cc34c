#pragma once

// The one place where errors from other subsystems become AMQP reply codes.

#include <system_error>

#include "amqp/reply_code.h"

namespace sluice::amqp {

// amqp errors map to themselves; broker and auth errors to their RabbitMQ equivalents; any
// other error is our fault (INTERNAL_ERROR).
ReplyCode to_reply_code(const std::error_code& code);

}  // namespace sluice::amqp
