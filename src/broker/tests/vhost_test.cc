#include "broker/vhost.h"

#include <gtest/gtest.h>

#include "broker/errc.h"

namespace sluice::broker {
namespace {

const Actor kAlice{"guest", 1};
const Actor kBob{"guest", 2};

class VirtualHostTest : public ::testing::Test {
 protected:
  QueuePtr declare(const std::string& name, bool exclusive = false, const Actor& a = kAlice) {
    auto r = vhost.declare_queue(QueueSettings{.name = name, .exclusive = exclusive}, false, a);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
    return r.ok() ? r->queue : nullptr;
  }

  ExchangePtr exchange(const std::string& name, std::string_view type,
                       amqp::FieldTable args = {}) {
    auto r = vhost.declare_exchange(ExchangeSettings{.name = name, .arguments = std::move(args)},
                                    type, false, kAlice);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
    return r.ok() ? *r : nullptr;
  }

  std::vector<std::string> route(const std::string& exchange, std::string_view key) {
    std::vector<QueuePtr> out;
    vhost.route(*vhost.find_exchange(exchange), {key}, nullptr, out);
    std::vector<std::string> names;
    for (const auto& q : out) names.push_back(q->name());
    std::sort(names.begin(), names.end());
    return names;
  }

  VirtualHost vhost{"/"};
};

TEST_F(VirtualHostTest, PredeclaresTheStandardExchanges) {
  for (const char* name : {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers",
                           "amq.match"}) {
    EXPECT_NE(vhost.find_exchange(name), nullptr) << name;
  }
}

TEST_F(VirtualHostTest, DefaultExchangeRoutesByQueueName) {
  declare("orders");
  EXPECT_EQ(route("", "orders"), (std::vector<std::string>{"orders"}));
  EXPECT_TRUE(route("", "nobody").empty());
}

TEST_F(VirtualHostTest, RedeclareWithOtherFlagsIsInequivalent) {
  declare("q");
  auto r = vhost.declare_queue(QueueSettings{.name = "q", .durable = true}, false, kAlice);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::precondition_failed);
  EXPECT_NE(r.error().detail.find("inequivalent arg 'durable'"), std::string::npos);
}

TEST_F(VirtualHostTest, ExclusiveQueueIsLockedToItsConnectionAndDiesWithIt) {
  declare("mine", true, kAlice);
  auto other = vhost.declare_queue(QueueSettings{.name = "mine", .exclusive = true}, true, kBob);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, errc::resource_locked);
  vhost.connection_closed(kAlice.connection_id);
  EXPECT_FALSE(vhost.queue_for("mine", kAlice).ok());
}

TEST_F(VirtualHostTest, ReservedNamesAndUnknownTypesAreRefused) {
  auto q = vhost.declare_queue(QueueSettings{.name = "amq.q"}, false, kAlice);
  EXPECT_EQ(q.error().code, errc::access_refused);
  auto x = vhost.declare_exchange(ExchangeSettings{.name = "amq.new"}, "direct", false, kAlice);
  EXPECT_EQ(x.error().code, errc::access_refused);
  auto t = vhost.declare_exchange(ExchangeSettings{.name = "x"}, "nonsense", false, kAlice);
  EXPECT_EQ(t.error().code, errc::command_invalid);
}

TEST_F(VirtualHostTest, ServerNamedQueuesAreGenerated) {
  auto r = vhost.declare_queue(QueueSettings{}, false, kAlice);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->queue->name().starts_with("amq.gen-"));
  EXPECT_EQ(r->queue->name().size(), 8u + 22u);
}

TEST_F(VirtualHostTest, ExchangeToExchangeBindingsRouteOnceEvenWithCycles) {
  exchange("a", "fanout");
  exchange("b", "fanout");
  declare("q");
  ASSERT_TRUE(vhost.bind_exchange("b", "a", "", {}, kAlice).ok());
  ASSERT_TRUE(vhost.bind_exchange("a", "b", "", {}, kAlice).ok());
  ASSERT_TRUE(vhost.bind_queue("q", "a", "", {}, kAlice).ok());
  ASSERT_TRUE(vhost.bind_queue("q", "b", "", {}, kAlice).ok());
  EXPECT_EQ(route("a", "k"), (std::vector<std::string>{"q"}));
}

TEST_F(VirtualHostTest, AlternateExchangeTakesUnroutedMessages) {
  exchange("ae", "fanout");
  exchange("main", "direct", {{"alternate-exchange", "ae"}});
  declare("routed");
  declare("unrouted");
  ASSERT_TRUE(vhost.bind_queue("routed", "main", "k", {}, kAlice).ok());
  ASSERT_TRUE(vhost.bind_queue("unrouted", "ae", "", {}, kAlice).ok());
  EXPECT_EQ(route("main", "k"), (std::vector<std::string>{"routed"}));
  EXPECT_EQ(route("main", "other"), (std::vector<std::string>{"unrouted"}));
}

TEST_F(VirtualHostTest, DeletingAQueueRemovesItsBindingsAndAutoDeleteExchanges) {
  auto r = vhost.declare_exchange(ExchangeSettings{.name = "temp", .auto_delete = true},
                                  "direct", false, kAlice);
  ASSERT_TRUE(r.ok());
  declare("q");
  ASSERT_TRUE(vhost.bind_queue("q", "temp", "k", {}, kAlice).ok());
  ASSERT_TRUE(vhost.delete_queue("q", false, false, kAlice).ok());
  EXPECT_EQ(vhost.find_exchange("temp"), nullptr);
}

TEST_F(VirtualHostTest, DeleteIfUnusedAndIfEmpty) {
  auto q = declare("q");
  q->enqueue(std::make_shared<Message>());
  auto r = vhost.delete_queue("q", false, true, kAlice);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::precondition_failed);
  auto deleted = vhost.delete_queue("q", true, false, kAlice);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u);
}

TEST_F(VirtualHostTest, DefinitionChangesReachTheObserver) {
  std::vector<DefinitionEvent::Kind> seen;
  vhost.set_observer([&](DefinitionEvent& e) -> Result<void> {
    seen.push_back(e.kind);
    return ok();
  });
  declare("q");
  ASSERT_TRUE(vhost.bind_queue("q", "amq.direct", "k", {}, kAlice).ok());
  ASSERT_TRUE(vhost.delete_queue("q", false, false, kAlice).ok());
  EXPECT_EQ(seen, (std::vector<DefinitionEvent::Kind>{DefinitionEvent::Kind::QueueDeclared,
                                                      DefinitionEvent::Kind::Bound,
                                                      DefinitionEvent::Kind::QueueDeleted}));
}

TEST_F(VirtualHostTest, ARefusedRecordLeavesNoDefinitionBehind) {
  vhost.set_observer([](DefinitionEvent&) -> Result<void> {
    return Error{errc::precondition_failed, "disk full"};
  });
  auto q = vhost.declare_queue(QueueSettings{.name = "q", .durable = true}, false, kAlice);
  ASSERT_FALSE(q.ok());
  EXPECT_FALSE(vhost.queue_for("q", kAlice).ok());
  auto x = vhost.declare_exchange(ExchangeSettings{.name = "x", .durable = true}, "direct", false,
                                  kAlice);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(vhost.find_exchange("x"), nullptr);
}

TEST_F(VirtualHostTest, ARefusedBindingIsTakenBack) {
  declare("q");
  vhost.set_observer([](DefinitionEvent& e) -> Result<void> {
    if (e.kind == DefinitionEvent::Kind::Bound) return Error{errc::precondition_failed, "no"};
    return ok();
  });
  EXPECT_FALSE(vhost.bind_queue("q", "amq.direct", "k", {}, kAlice).ok());
  EXPECT_TRUE(route("amq.direct", "k").empty());
  EXPECT_TRUE(vhost.find_exchange("amq.direct")->bindings().empty());
}

}  // namespace
}  // namespace sluice::broker
