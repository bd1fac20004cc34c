#pragma once

// The server-properties table of connection.start.

#include "amqp/field_table.h"

namespace sluice::amqp {

// Product, version, platform, and a capabilities table that advertises only what works.
FieldTable server_properties();

}  // namespace sluice::amqp
