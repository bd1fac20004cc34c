#include "amqp/server_properties.h"

namespace sluice::amqp {

FieldTable server_properties() {
  // Clients switch behaviour on these flags, so each one is listed only once the broker
  // really does it.
  FieldTable capabilities = {
      {"connection.blocked", true},
      {"publisher_confirms", true},
      {"exchange_exchange_bindings", true},
      {"basic.nack", true},
      {"consumer_cancel_notify", true},
      {"consumer_priorities", true},
      {"authentication_failure_close", true},
      {"per_consumer_qos", true},
      {"direct_reply_to", true},
  };
  return FieldTable{
      {"capabilities", std::move(capabilities)},
      {"product", "Sluice"},
      {"version", SLUICE_VERSION},
      {"platform", "C++20/Linux"},
      {"copyright", "The Sluice authors"},
      {"information", "An AMQP 0-9-1 message broker"},
  };
}

}  // namespace sluice::amqp
