#include "tools/perf/amqp_uri.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sluice::perf {
namespace {

TEST(AmqpUri, FullUri) {
  const auto p = parse_amqp_uri("amqp://alice:s%40cret@broker.local:5673/prod%2Fa");
  EXPECT_EQ(p.user, "alice");
  EXPECT_EQ(p.password, "s@cret");
  EXPECT_EQ(p.host, "broker.local");
  EXPECT_EQ(p.port, 5673);
  EXPECT_EQ(p.vhost, "prod/a");
}

TEST(AmqpUri, MissingPartsKeepDefaults) {
  ConnectionParams defaults;
  defaults.port = 27672;
  const auto p = parse_amqp_uri("amqp://127.0.0.1", defaults);
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port, 27672);
  EXPECT_EQ(p.user, "guest");
  EXPECT_EQ(p.vhost, "/");
}

TEST(AmqpUri, DefaultVhostIsPercentEncoded) {
  EXPECT_EQ(parse_amqp_uri("amqp://h/%2F").vhost, "/");
  // RabbitMQ's spec: a bare slash names the empty vhost.
  EXPECT_EQ(parse_amqp_uri("amqp://h/").vhost, "");
}

TEST(AmqpUri, BracketedIpv6Host) {
  const auto p = parse_amqp_uri("amqp://[::1]:5600");
  EXPECT_EQ(p.host, "::1");
  EXPECT_EQ(p.port, 5600);
}

TEST(AmqpUri, QueryIsIgnored) {
  EXPECT_EQ(parse_amqp_uri("amqp://h:1234?heartbeat=10").port, 1234);
}

TEST(AmqpUri, RejectsBadInput) {
  EXPECT_THROW(parse_amqp_uri("http://h"), std::invalid_argument);
  EXPECT_THROW(parse_amqp_uri("amqps://h"), std::invalid_argument);
  EXPECT_THROW(parse_amqp_uri("amqp://h:99999"), std::invalid_argument);
  EXPECT_THROW(parse_amqp_uri("amqp://h:port"), std::invalid_argument);
  EXPECT_THROW(parse_amqp_uri("amqp://h/%2"), std::invalid_argument);
  EXPECT_THROW(parse_amqp_uri("amqp://[::1"), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::perf
