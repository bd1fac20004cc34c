#pragma once

// SASL responses of the mechanisms we offer: PLAIN ("\0user\0password", RFC 4616) and
// AMQPLAIN (a field table without its length prefix, with LOGIN and PASSWORD entries).

#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice::amqp {

struct Credentials {
  std::string user;
  std::string password;
};

// The mechanisms offered in connection.start, space-separated as the spec asks.
inline constexpr std::string_view kMechanisms = "PLAIN AMQPLAIN";

// Errors: ACCESS_REFUSED for a malformed response, COMMAND_INVALID for an unknown mechanism.
Result<Credentials> parse_sasl_response(std::string_view mechanism, std::string_view response);

}  // namespace sluice::amqp
