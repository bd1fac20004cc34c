#include "broker/routing/fanout_router.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "broker/routing/direct_router.h"
#include "broker/routing/headers_router.h"
#include "broker/routing/tests/routing_test_util.h"
#include "broker/routing/topic_router.h"

namespace sluice::broker {
namespace {

using amqp::FieldTable;
using testing::kNoArguments;
using testing::Names;
using testing::routed;
using testing::routed_unique;

TEST(FanoutRouter, MatchesEveryBindingWhateverTheKey) {
  testing::Targets q;
  FanoutRouter r;
  ASSERT_TRUE(r.bind(q("a"), "", kNoArguments));
  ASSERT_TRUE(r.bind(q("b"), "ignored", kNoArguments));
  FieldTable headers{{"h", true}};

  EXPECT_EQ(routed(r, ""), (Names{"a", "b"}));
  EXPECT_EQ(routed(r, "anything.at.all"), (Names{"a", "b"}));
  EXPECT_EQ(routed(r, "x", &headers), (Names{"a", "b"}));
}

TEST(FanoutRouter, EmptyRouterRoutesNowhere) {
  FanoutRouter r;
  EXPECT_EQ(routed(r, "k"), Names{});
}

// RabbitMQ 3.10: the key is part of a binding's identity on every exchange type, so (q, "a")
// and (q, "b") are two fanout bindings; the broker delivers once.
TEST(FanoutRouter, KeyDistinguishesBindings) {
  testing::Targets q;
  FanoutRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k1", kNoArguments));
  EXPECT_TRUE(r.bind(q("a"), "k2", kNoArguments));
  EXPECT_TRUE(r.bind(q("a"), "k2", FieldTable{{"x", std::int32_t{1}}}));
  EXPECT_EQ(r.binding_count(), 3u);
  EXPECT_EQ(routed(r, "zzz"), (Names{"a", "a", "a"}));
  EXPECT_EQ(routed_unique(r, "zzz"), Names{"a"});
}

TEST(FanoutRouter, BindRejectsDuplicate) {
  testing::Targets q;
  FanoutRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k", FieldTable{{"x", 1}, {"y", 2}}));
  EXPECT_FALSE(r.bind(q("a"), "k", FieldTable{{"y", 2}, {"x", 1}}));
  EXPECT_EQ(r.binding_count(), 1u);
}

TEST(FanoutRouter, UnbindMissingReturnsFalse) {
  testing::Targets q;
  FanoutRouter r;
  EXPECT_FALSE(r.unbind(q("a"), "", kNoArguments));
  ASSERT_TRUE(r.bind(q("a"), "k", kNoArguments));
  EXPECT_FALSE(r.unbind(q("a"), "other", kNoArguments));
  EXPECT_FALSE(r.unbind(q("b"), "k", kNoArguments));
  EXPECT_TRUE(r.unbind(q("a"), "k", kNoArguments));
  EXPECT_EQ(r.binding_count(), 0u);
  EXPECT_EQ(routed(r, "k"), Names{});
}

TEST(FanoutRouter, UnbindAllRemovesOnlyThatDestination) {
  testing::Targets q;
  FanoutRouter r;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(
        r.bind(q(i % 2 == 0 ? "even" : "q" + std::to_string(i)), std::to_string(i), kNoArguments));
  }
  EXPECT_EQ(r.binding_count(), 40u);
  r.unbind_all(q("even"));
  EXPECT_EQ(r.binding_count(), 20u);
  Names got = routed(r, "");
  EXPECT_EQ(got.size(), 20u);
  EXPECT_EQ(std::count(got.begin(), got.end(), "even"), 0);
}

TEST(MakeRouter, BuildsEachType) {
  EXPECT_NE(dynamic_cast<DirectRouter*>(make_router(ExchangeType::Direct).get()), nullptr);
  EXPECT_NE(dynamic_cast<FanoutRouter*>(make_router(ExchangeType::Fanout).get()), nullptr);
  EXPECT_NE(dynamic_cast<TopicRouter*>(make_router(ExchangeType::Topic).get()), nullptr);
  EXPECT_NE(dynamic_cast<HeadersRouter*>(make_router(ExchangeType::Headers).get()), nullptr);
}

}  // namespace
}  // namespace sluice::broker
