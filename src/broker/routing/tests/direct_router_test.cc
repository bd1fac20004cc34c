#include "broker/routing/direct_router.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "broker/routing/tests/routing_test_util.h"

namespace sluice::broker {
namespace {

using amqp::FieldTable;
using testing::kNoArguments;
using testing::Names;
using testing::routed;
using testing::routed_unique;

TEST(DirectRouter, MatchesExactKeyOnly) {
  testing::Targets q;
  DirectRouter r;
  ASSERT_TRUE(r.bind(q("a"), "k", kNoArguments));
  ASSERT_TRUE(r.bind(q("b"), "k.x", kNoArguments));

  EXPECT_EQ(routed(r, "k"), Names{"a"});
  EXPECT_EQ(routed(r, "k.x"), Names{"b"});
  EXPECT_EQ(routed(r, "K"), Names{});
  EXPECT_EQ(routed(r, "k "), Names{});
  EXPECT_EQ(routed(r, ""), Names{});
}

// RabbitMQ 3.10: a binding with key "" receives messages published with key "" only.
TEST(DirectRouter, EmptyKeyIsAnOrdinaryKey) {
  testing::Targets q;
  DirectRouter r;
  ASSERT_TRUE(r.bind(q("a"), "", kNoArguments));
  EXPECT_EQ(routed(r, ""), Names{"a"});
  EXPECT_EQ(routed(r, "x"), Names{});
}

TEST(DirectRouter, KeysAreBytesNotText) {
  testing::Targets q;
  DirectRouter r;
  std::string with_nul("a\0b", 3);
  ASSERT_TRUE(r.bind(q("a"), with_nul, kNoArguments));
  EXPECT_EQ(routed(r, with_nul), Names{"a"});
  EXPECT_EQ(routed(r, "a"), Names{});
}

TEST(DirectRouter, ManyDestinationsOnOneKey) {
  testing::Targets q;
  DirectRouter r;
  ASSERT_TRUE(r.bind(q("a"), "k", kNoArguments));
  ASSERT_TRUE(r.bind(q("b"), "k", kNoArguments));
  ASSERT_TRUE(r.bind(q("c"), "other", kNoArguments));
  EXPECT_EQ(routed(r, "k"), (Names{"a", "b"}));
}

TEST(DirectRouter, BindRejectsDuplicate) {
  testing::Targets q;
  DirectRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k", kNoArguments));
  EXPECT_FALSE(r.bind(q("a"), "k", kNoArguments));
  EXPECT_EQ(r.binding_count(), 1u);
  EXPECT_EQ(routed(r, "k"), Names{"a"});
}

// RabbitMQ 3.10: (q, "k", {}) and (q, "k", {a=1, b=2}) are two bindings (list_bindings shows
// both); a message published to "k" still reaches q once, because the broker de-duplicates.
TEST(DirectRouter, ArgumentsDistinguishBindings) {
  testing::Targets q;
  DirectRouter r;
  FieldTable args{{"a", std::int32_t{1}}, {"b", std::int32_t{2}}};
  EXPECT_TRUE(r.bind(q("a"), "k", kNoArguments));
  EXPECT_TRUE(r.bind(q("a"), "k", args));
  EXPECT_EQ(r.binding_count(), 2u);
  EXPECT_EQ(routed(r, "k"), (Names{"a", "a"}));
  EXPECT_EQ(routed_unique(r, "k"), Names{"a"});

  EXPECT_TRUE(r.unbind(q("a"), "k", args));
  EXPECT_EQ(routed(r, "k"), Names{"a"});
}

// RabbitMQ 3.10: binding with {a=1, b=2} and then {b=2, a=1} leaves one binding, and
// unbinding with either order removes it.
TEST(DirectRouter, ArgumentOrderDoesNotDistinguishBindings) {
  testing::Targets q;
  DirectRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k", FieldTable{{"a", std::int32_t{1}}, {"b", std::int32_t{2}}}));
  EXPECT_FALSE(r.bind(q("a"), "k", FieldTable{{"b", std::int32_t{2}}, {"a", std::int32_t{1}}}));
  EXPECT_TRUE(r.unbind(q("a"), "k", FieldTable{{"b", std::int32_t{2}}, {"a", std::int32_t{1}}}));
  EXPECT_EQ(r.binding_count(), 0u);
}

// RabbitMQ 3.10: {a=int32 1} and {a=int64 1} are two bindings; identity compares types.
TEST(DirectRouter, ArgumentTypeDistinguishesBindings) {
  testing::Targets q;
  DirectRouter r;
  EXPECT_TRUE(r.bind(q("a"), "k", FieldTable{{"a", std::int32_t{1}}}));
  EXPECT_TRUE(r.bind(q("a"), "k", FieldTable{{"a", std::int64_t{1}}}));
  EXPECT_EQ(r.binding_count(), 2u);
}

TEST(DirectRouter, UnbindMissingReturnsFalse) {
  testing::Targets q;
  DirectRouter r;
  EXPECT_FALSE(r.unbind(q("a"), "k", kNoArguments));
  ASSERT_TRUE(r.bind(q("a"), "k", kNoArguments));
  EXPECT_FALSE(r.unbind(q("b"), "k", kNoArguments));
  EXPECT_FALSE(r.unbind(q("a"), "other", kNoArguments));
  EXPECT_FALSE(r.unbind(q("a"), "k", FieldTable{{"x", true}}));
  EXPECT_EQ(r.binding_count(), 1u);
  EXPECT_TRUE(r.unbind(q("a"), "k", kNoArguments));
  EXPECT_FALSE(r.unbind(q("a"), "k", kNoArguments));
  EXPECT_EQ(routed(r, "k"), Names{});
}

TEST(DirectRouter, UnbindAllRemovesOnlyThatDestination) {
  testing::Targets q;
  DirectRouter r;
  ASSERT_TRUE(r.bind(q("a"), "k1", kNoArguments));
  ASSERT_TRUE(r.bind(q("a"), "k2", kNoArguments));
  ASSERT_TRUE(r.bind(q("a"), "k2", FieldTable{{"x", true}}));
  ASSERT_TRUE(r.bind(q("b"), "k2", kNoArguments));

  r.unbind_all(q("a"));
  EXPECT_EQ(r.binding_count(), 1u);
  EXPECT_EQ(routed(r, "k1"), Names{});
  EXPECT_EQ(routed(r, "k2"), Names{"b"});

  r.unbind_all(q("a"));  // nothing left: a no-op
  EXPECT_EQ(r.binding_count(), 1u);
  EXPECT_TRUE(r.bind(q("a"), "k1", kNoArguments));  // and the router is still usable
  EXPECT_EQ(routed(r, "k1"), Names{"a"});
}

// Enough destinations on one key to cross the binding list's index threshold both ways.
TEST(DirectRouter, CountsBindingsThroughManyChanges) {
  testing::Targets q;
  DirectRouter r;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(r.bind(q("q" + std::to_string(i)), "k", kNoArguments));
    ASSERT_TRUE(r.bind(q("q" + std::to_string(i)), "k" + std::to_string(i), kNoArguments));
  }
  EXPECT_EQ(r.binding_count(), 200u);
  EXPECT_EQ(routed(r, "k").size(), 100u);

  for (int i = 0; i < 100; i += 2) ASSERT_TRUE(r.unbind(q("q" + std::to_string(i)), "k", {}));
  for (int i = 1; i < 100; i += 4) r.unbind_all(q("q" + std::to_string(i)));
  EXPECT_EQ(r.binding_count(), 200u - 50u - 25u * 2u);
  EXPECT_EQ(routed(r, "k").size(), 25u);
  EXPECT_EQ(routed(r, "k3"), Names{"q3"});
  EXPECT_EQ(routed(r, "k1"), Names{});
  EXPECT_EQ(routed(r, "k2"), Names{"q2"});
}

}  // namespace
}  // namespace sluice::broker
