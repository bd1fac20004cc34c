#include "broker/routing/router.h"

#include "broker/routing/direct_router.h"
#include "broker/routing/fanout_router.h"
#include "broker/routing/headers_router.h"
#include "broker/routing/topic_router.h"

namespace sluice::broker {

std::unique_ptr<Router> make_router(ExchangeType type) {
  switch (type) {
    case ExchangeType::Direct:
      return std::make_unique<DirectRouter>();
    case ExchangeType::Fanout:
      return std::make_unique<FanoutRouter>();
    case ExchangeType::Topic:
      return std::make_unique<TopicRouter>();
    case ExchangeType::Headers:
      return std::make_unique<HeadersRouter>();
  }
  return nullptr;  // unreachable: the switch covers every ExchangeType
}

}  // namespace sluice::broker
