#include "broker/routing/word_table.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>

namespace sluice::broker {
namespace {

struct Item {
  explicit Item(std::string w) : word(std::move(w)) {}
  std::string word;
};

using Table = WordTable<Item>;

Item* insert(Table& t, const std::string& word) {
  return t.insert(Table::hash_of(word), std::make_unique<Item>(word));
}

Item* find(const Table& t, const std::string& word) { return t.find(word, Table::hash_of(word)); }

TEST(WordTable, FindsWhatWasInserted) {
  Table t;
  EXPECT_EQ(find(t, "a"), nullptr);
  Item* a = insert(t, "a");
  Item* empty = insert(t, "");
  EXPECT_EQ(find(t, "a"), a);
  EXPECT_EQ(find(t, ""), empty);
  EXPECT_EQ(find(t, "b"), nullptr);
  EXPECT_EQ(t.size(), 2u);
}

TEST(WordTable, EraseMissingReturnsFalse) {
  Table t;
  EXPECT_FALSE(t.erase("a", Table::hash_of("a")));
  insert(t, "a");
  EXPECT_FALSE(t.erase("b", Table::hash_of("b")));
  EXPECT_TRUE(t.erase("a", Table::hash_of("a")));
  EXPECT_TRUE(t.empty());
}

// Every word gets the same hash, so all of them share one probe run and each erase has to
// shift the rest of the run back: the worst case for backward-shift deletion.
TEST(WordTable, CollidingHashesStayFindable) {
  Table t;
  constexpr std::size_t kSameHash = 12345;
  for (int i = 0; i < 50; ++i) {
    std::string w = std::to_string(i);
    t.insert(kSameHash, std::make_unique<Item>(w));
  }
  for (int i = 0; i < 50; i += 3) ASSERT_TRUE(t.erase(std::to_string(i), kSameHash));
  for (int i = 0; i < 50; ++i) {
    Item* found = t.find(std::to_string(i), kSameHash);
    EXPECT_EQ(found != nullptr, i % 3 != 0) << i;
  }
}

// Random inserts and erases against a std::map, growing to a few thousand words and shrinking
// back to none, so the table grows, shrinks and wraps around its end many times.
TEST(WordTable, MatchesAMapModel) {
  Table t;
  std::map<std::string, Item*> model;
  std::mt19937 rng(11);
  for (int op = 0; op < 40000; ++op) {
    bool growing = (op / 10000) % 2 == 0;
    std::string w = "w" + std::to_string(rng() % 3000);
    if (rng() % 10 < (growing ? 7u : 2u)) {
      if (model.count(w) == 0) model[w] = insert(t, w);
    } else {
      ASSERT_EQ(t.erase(w, Table::hash_of(w)), model.erase(w) == 1);
    }
    ASSERT_EQ(t.size(), model.size());
  }
  for (const auto& [w, item] : model) EXPECT_EQ(find(t, w), item) << w;
  for (int i = 0; i < 3000; ++i) {
    std::string w = "w" + std::to_string(i);
    EXPECT_EQ(find(t, w) != nullptr, model.count(w) == 1) << w;
  }
}

}  // namespace
}  // namespace sluice::broker
