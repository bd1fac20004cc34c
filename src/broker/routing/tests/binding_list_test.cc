#include "broker/routing/binding_list.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "broker/routing/tests/routing_test_util.h"

namespace sluice::broker {
namespace {

using amqp::FieldTable;

TEST(CanonicalArguments, SortsByKeyKeepingRepeatsInOrder) {
  FieldTable in{{"b", 1}, {"a", 2}, {"b", 3}, {"A", 4}, {"\xff", 5}, {"a", 6}};
  FieldTable expected{{"A", 4}, {"a", 2}, {"a", 6}, {"b", 1}, {"b", 3}, {"\xff", 5}};
  EXPECT_EQ(canonical_arguments(in), expected);
}

TEST(BindingList, InsertRejectsDuplicate) {
  testing::Targets q;
  BindingList<> list;
  EXPECT_NE(list.insert(q("a"), "k", {}), nullptr);
  EXPECT_EQ(list.insert(q("a"), "k", {}), nullptr);
  EXPECT_NE(list.insert(q("a"), "k2", {}), nullptr);
  EXPECT_NE(list.insert(q("a"), "k", FieldTable{{"x", 1}}), nullptr);
  EXPECT_NE(list.insert(q("b"), "k", {}), nullptr);
  EXPECT_EQ(list.size(), 4u);
}

// Random binds, unbinds and unbind_alls against a std::set model, across the size at which
// the list starts (and stops) keeping its per-destination index.
TEST(BindingList, MatchesASetModelAcrossTheIndexThreshold) {
  testing::Targets q;
  BindingList<> list;
  using Key = std::tuple<BindingTarget*, std::string, std::int32_t>;
  std::set<Key> model;
  std::mt19937 rng(7);

  for (int op = 0; op < 20000; ++op) {
    BindingTarget* dest = q("q" + std::to_string(rng() % 6));
    std::string key = std::to_string(rng() % 5);
    auto arg = static_cast<std::int32_t>(rng() % 3);
    FieldTable args{{"x", arg}};
    // Alternate growing and shrinking phases so the size crosses the threshold many times.
    bool growing = (op / 500) % 2 == 0;
    unsigned dice = rng() % 16;
    if (dice == 0) {
      list.erase_all(dest);
      std::erase_if(model, [&](const Key& k) { return std::get<0>(k) == dest; });
    } else if (dice < (growing ? 6u : 13u)) {
      ASSERT_EQ(list.erase(dest, key, args), model.erase({dest, key, arg}) == 1);
    } else {
      ASSERT_EQ(list.insert(dest, key, args) != nullptr, model.insert({dest, key, arg}).second);
    }
    ASSERT_EQ(list.size(), model.size());
  }

  std::set<Key> contents;
  for (const auto& e : list.entries()) {
    contents.insert({e.destination, e.key, std::get<std::int32_t>(e.arguments[0].second.value)});
  }
  EXPECT_EQ(contents, model);
}

}  // namespace
}  // namespace sluice::broker
