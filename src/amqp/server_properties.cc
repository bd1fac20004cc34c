#include "amqp/server_properties.h"

namespace sluice::amqp {

FieldTable server_properties() {
  // Clients switch behaviour on these flags, so each one is listed only once the broker
  // really does it. The broker core adds publisher_confirms, basic.nack,
  // consumer_cancel_notify, exchange_exchange_bindings, per_consumer_qos and direct_reply_to.
  FieldTable capabilities = {
      {"authentication_failure_close", true},
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
