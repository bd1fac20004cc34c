#pragma once

// Parses amqp://user:password@host:port/vhost as RabbitMQ's URI spec reads it: every part is
// optional, user, password and vhost are percent-decoded (so the default vhost is "%2F"), no
// path means vhost "/", and a bare "/" path means the empty vhost name. IPv6 hosts go in
// brackets. amqps is refused: sluice-perf has no TLS.

#include <string_view>

#include "tools/perf/amqp_client.h"

namespace sluice::perf {

// Starts from `defaults` and overrides what the URI names. Throws std::invalid_argument.
ConnectionParams parse_amqp_uri(std::string_view uri, const ConnectionParams& defaults = {});

}  // namespace sluice::perf
