#include "broker/routing/topic_router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "broker/routing/tests/routing_test_util.h"

namespace sluice::broker {
namespace {

using amqp::FieldTable;
using testing::kNoArguments;
using testing::Names;
using testing::routed;
using testing::routed_unique;

// A topic router plus one destination per pattern, named after the pattern.
struct Harness {
  void bind_all(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) ASSERT_TRUE(r.bind(q(p), p, kNoArguments)) << p;
  }
  // The patterns (destination names) that match `key`.
  Names matching(std::string_view key) const { return routed(r, key); }

  testing::Targets q;
  TopicRouter r;
};

TEST(TopicRouter, HashMatchesZeroWords) {
  Harness h;
  h.bind_all({"#", "a.#", "#.a", "a.#.b", "#.#"});
  EXPECT_EQ(h.matching("a"), (Names{"#", "#.#", "#.a", "a.#"}));
  EXPECT_EQ(h.matching("a.b"), (Names{"#", "#.#", "a.#", "a.#.b"}));
}

// RabbitMQ 3.10: the key "" has zero words; it matches "#" (and "#.#") and the pattern "",
// but not "*", "#.*" or "*.#".
TEST(TopicRouter, EmptyKeyHasZeroWords) {
  Harness h;
  h.bind_all({"#", "#.#", "", "*", "#.*", "*.#", "a.#"});
  EXPECT_EQ(h.matching(""), (Names{"", "#", "#.#"}));
}

// RabbitMQ 3.10: the pattern "" matches the key "" and nothing else, not even "." (two empty
// words).
TEST(TopicRouter, EmptyPatternMatchesOnlyEmptyKey) {
  Harness h;
  h.bind_all({""});
  EXPECT_EQ(h.matching(""), Names{""});
  EXPECT_EQ(h.matching("."), Names{});
  EXPECT_EQ(h.matching("a"), Names{});
}

TEST(TopicRouter, StarMatchesExactlyOneWord) {
  Harness h;
  h.bind_all({"*", "*.*", "a.*"});
  EXPECT_EQ(h.matching("a"), Names{"*"});
  EXPECT_EQ(h.matching("a.b"), (Names{"*.*", "a.*"}));
  EXPECT_EQ(h.matching("a.b.c"), Names{});
}

// RabbitMQ 3.10: "a..b" is three words, the middle one empty; "a.*.b" and "a..b" match it,
// "a.b" does not. "." is two empty words and "a." is "a" then an empty word.
TEST(TopicRouter, EmptyWordsAreWords) {
  Harness h;
  h.bind_all({"a.*.b", "a..b", "a.b", "*.*", "*.", ".", "a."});
  EXPECT_EQ(h.matching("a..b"), (Names{"a.*.b", "a..b"}));
  EXPECT_EQ(h.matching("."), (Names{"*.", "*.*", "."}));
  EXPECT_EQ(h.matching("a."), (Names{"*.", "*.*", "a."}));
  EXPECT_EQ(h.matching(".a"), Names{"*.*"});
}

TEST(TopicRouter, HashBetweenWords) {
  Harness h;
  h.bind_all({"a.#.b"});
  EXPECT_EQ(h.matching("a.b"), Names{"a.#.b"});
  EXPECT_EQ(h.matching("a.x.b"), Names{"a.#.b"});
  EXPECT_EQ(h.matching("a.x.y.b"), Names{"a.#.b"});
  EXPECT_EQ(h.matching("a..b"), Names{"a.#.b"});
  EXPECT_EQ(h.matching("a"), Names{});
  EXPECT_EQ(h.matching("a.b.c"), Names{});
  EXPECT_EQ(h.matching("b"), Names{});
}

TEST(TopicRouter, StarThenHashNeedsAWord) {
  Harness h;
  h.bind_all({"a.*.#", "*.#", "#.*"});
  EXPECT_EQ(h.matching("a"), (Names{"#.*", "*.#"}));
  EXPECT_EQ(h.matching("a.b"), (Names{"#.*", "*.#", "a.*.#"}));
  EXPECT_EQ(h.matching("a.b.c.d"), (Names{"#.*", "*.#", "a.*.#"}));
}

// The whole table checked against RabbitMQ 3.10.8 (tests/integration/test_routing_oracle.py
// publishes these keys to these patterns): for each pattern, the keys it receives.
TEST(TopicRouter, MatchesRabbitMQOnEdgeCases) {
  Harness h;
  const std::vector<std::string> keys = {"",  "a",  "b",  "a.b", "a..b",  "a.x.b", "a.x.y.b",
                                         ".", "a.", ".a", "x.a", "a.b.c", "a.x.y", ".."};
  const std::vector<std::string> all = keys;
  const std::map<std::string, std::vector<std::string>> expected = {
      {"#", all},
      {"#.#", all},
      {"#.#.#.#", all},
      {"*", {"a", "b"}},
      {"", {""}},
      {"a.#.b", {"a.b", "a..b", "a.x.b", "a.x.y.b"}},
      {"#.a", {"a", ".a", "x.a"}},
      {"a.#", {"a", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.", "a.b.c", "a.x.y"}},
      {"*.#",
       {"a", "b", "a.b", "a..b", "a.x.b", "a.x.y.b", ".", "a.", ".a", "x.a", "a.b.c", "a.x.y",
        ".."}},
      {"#.*",
       {"a", "b", "a.b", "a..b", "a.x.b", "a.x.y.b", ".", "a.", ".a", "x.a", "a.b.c", "a.x.y",
        ".."}},
      {"a.*.#", {"a.b", "a..b", "a.x.b", "a.x.y.b", "a.", "a.b.c", "a.x.y"}},
      {"a.*.b", {"a..b", "a.x.b"}},
      {"a..b", {"a..b"}},
      {"*.*", {"a.b", ".", "a.", ".a", "x.a"}},
      {".", {"."}},
      {"*.", {".", "a."}},
      {"a.", {"a."}},
      {"a.b", {"a.b"}},
      {"#.b", {"b", "a.b", "a..b", "a.x.b", "a.x.y.b"}},
      {"*.*.*", {"a..b", "a.x.b", "a.b.c", "a.x.y", ".."}},
  };
  for (const auto& [pattern, _] : expected) ASSERT_TRUE(h.r.bind(h.q(pattern), pattern, {}));

  std::map<std::string, std::vector<std::string>> got;
  for (const auto& key : keys) {
    for (const auto& pattern : routed(h.r, key)) got[pattern].push_back(key);
  }
  for (const auto& [pattern, want] : expected) {
    EXPECT_EQ(got[pattern], want) << "pattern '" << pattern << "'";
  }
}

// A key word that happens to be "*" or "#" is an ordinary word; only patterns have wildcards.
TEST(TopicRouter, WildcardCharactersInKeysAreLiteral) {
  Harness h;
  h.bind_all({"a.b", "a.*", "a.#"});
  EXPECT_EQ(h.matching("a.*"), (Names{"a.#", "a.*"}));
  EXPECT_EQ(h.matching("a.#"), (Names{"a.#", "a.*"}));
}

// Words that merely contain '*' or '#' are literal words in patterns too.
TEST(TopicRouter, WildcardMustBeAWholeWord) {
  Harness h;
  h.bind_all({"a*", "#b", "a.b*c"});
  EXPECT_EQ(h.matching("a*"), Names{"a*"});
  EXPECT_EQ(h.matching("ab"), Names{});
  EXPECT_EQ(h.matching("#b"), Names{"#b"});
  EXPECT_EQ(h.matching("xb"), Names{});
  EXPECT_EQ(h.matching("a.b*c"), Names{"a.b*c"});
  EXPECT_EQ(h.matching("a.bxc"), Names{});
}

// With a set of reached nodes instead of backtracking, a pattern of 60 '#' against a key of
// 120 words stays cheap; a backtracking matcher would explore an astronomical number of
// splits. A debug, sanitised build still finishes this in milliseconds.
TEST(TopicRouter, ManyHashesDoNotBlowUp) {
  Harness h;
  std::string pattern = "#";
  for (int i = 0; i < 59; ++i) pattern += ".#";
  pattern += ".z";
  h.bind_all({pattern});
  std::string key = "a";
  for (int i = 0; i < 119; ++i) key += ".a";

  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(h.matching(key), Names{});
  EXPECT_EQ(h.matching(key + ".z"), Names{pattern});
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

// "#.a.#" against "a.a.a": the inner '#' node is reached after each "a", and "#.#" reaches its
// second '#' along as many paths as there are words. Each binding is still reported once.
TEST(TopicRouter, HashReachedAlongManyPathsIsReportedOnce) {
  Harness h;
  h.bind_all({"#.a.#", "#.#", "#.#.#"});
  EXPECT_EQ(h.matching("a.a.a"), (Names{"#.#", "#.#.#", "#.a.#"}));
  EXPECT_EQ(h.matching("a.b.a.b"), (Names{"#.#", "#.#.#", "#.a.#"}));
}

TEST(TopicRouter, BindRejectsDuplicate) {
  Harness h;
  EXPECT_TRUE(h.r.bind(h.q("a"), "x.*", kNoArguments));
  EXPECT_FALSE(h.r.bind(h.q("a"), "x.*", kNoArguments));
  EXPECT_TRUE(h.r.bind(h.q("b"), "x.*", kNoArguments));
  EXPECT_EQ(h.r.binding_count(), 2u);
  EXPECT_EQ(h.matching("x.y"), (Names{"a", "b"}));
}

// RabbitMQ 3.10: same destination and pattern, different arguments: two bindings; the queue
// still gets one copy (the broker de-duplicates what route() reports).
TEST(TopicRouter, ArgumentsDistinguishBindings) {
  Harness h;
  EXPECT_TRUE(h.r.bind(h.q("a"), "x.#", kNoArguments));
  EXPECT_TRUE(h.r.bind(h.q("a"), "x.#", FieldTable{{"k", std::int64_t{1}}}));
  EXPECT_FALSE(h.r.bind(h.q("a"), "x.#", FieldTable{{"k", std::int64_t{1}}}));
  EXPECT_EQ(h.r.binding_count(), 2u);
  EXPECT_EQ(h.matching("x.y"), (Names{"a", "a"}));
  EXPECT_EQ(routed_unique(h.r, "x.y"), Names{"a"});
}

TEST(TopicRouter, UnbindMissingReturnsFalse) {
  Harness h;
  EXPECT_FALSE(h.r.unbind(h.q("a"), "a.b", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("a"), "a.b.c", kNoArguments));
  std::size_t nodes = h.r.node_count_for_test();

  EXPECT_FALSE(h.r.unbind(h.q("a"), "a.b", kNoArguments));  // a prefix of a bound pattern
  EXPECT_FALSE(h.r.unbind(h.q("a"), "a.b.c.d", kNoArguments));
  EXPECT_FALSE(h.r.unbind(h.q("a"), "a.*.c", kNoArguments));
  EXPECT_FALSE(h.r.unbind(h.q("b"), "a.b.c", kNoArguments));
  EXPECT_FALSE(h.r.unbind(h.q("a"), "a.b.c", FieldTable{{"k", true}}));
  EXPECT_EQ(h.r.node_count_for_test(), nodes);  // a failed unbind creates nothing
  EXPECT_EQ(h.r.binding_count(), 1u);
}

TEST(TopicRouter, UnbindFreesUnusedNodes) {
  Harness h;
  ASSERT_TRUE(h.r.bind(h.q("a"), "a.b.c", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("a"), "a.*.#", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("b"), "a.b", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("b"), "", kNoArguments));
  EXPECT_EQ(h.r.node_count_for_test(), 1u + 3u + 2u);

  EXPECT_TRUE(h.r.unbind(h.q("a"), "a.b.c", kNoArguments));
  EXPECT_EQ(h.r.node_count_for_test(), 1u + 2u + 2u);  // "a.b" still holds b's binding
  EXPECT_EQ(h.matching("a.b"), (Names{"a", "b"}));

  EXPECT_TRUE(h.r.unbind(h.q("b"), "a.b", kNoArguments));
  EXPECT_TRUE(h.r.unbind(h.q("a"), "a.*.#", kNoArguments));
  EXPECT_EQ(h.r.node_count_for_test(), 1u);
  EXPECT_EQ(h.matching(""), Names{"b"});  // the root's own binding survives
  EXPECT_TRUE(h.r.unbind(h.q("b"), "", kNoArguments));
  EXPECT_EQ(h.r.binding_count(), 0u);
  EXPECT_EQ(h.matching(""), Names{});
}

TEST(TopicRouter, UnbindAllRemovesOnlyThatDestination) {
  Harness h;
  ASSERT_TRUE(h.r.bind(h.q("a"), "x", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("a"), "x.y", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("a"), "x.y", FieldTable{{"k", 1}}));
  ASSERT_TRUE(h.r.bind(h.q("a"), "#", kNoArguments));
  ASSERT_TRUE(h.r.bind(h.q("b"), "x.*", kNoArguments));

  h.r.unbind_all(h.q("a"));
  EXPECT_EQ(h.r.binding_count(), 1u);
  EXPECT_EQ(h.matching("x"), Names{});
  EXPECT_EQ(h.matching("x.y"), Names{"b"});
  EXPECT_EQ(h.r.node_count_for_test(), 3u);  // root, "x", "x.*"

  h.r.unbind_all(h.q("b"));
  EXPECT_EQ(h.r.node_count_for_test(), 1u);
  EXPECT_EQ(h.r.binding_count(), 0u);
}

// The reference: RabbitMQ's definition written as plain recursion over word lists.
std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> words;
  if (s.empty()) return words;
  std::size_t start = 0;
  for (std::size_t dot; (dot = s.find('.', start)) != std::string_view::npos; start = dot + 1) {
    words.emplace_back(s.substr(start, dot - start));
  }
  words.emplace_back(s.substr(start));
  return words;
}

bool reference_match(const std::vector<std::string>& p, std::size_t i,
                     const std::vector<std::string>& k, std::size_t j) {
  if (i == p.size()) return j == k.size();
  if (p[i] == "#") {
    for (std::size_t skip = j; skip <= k.size(); ++skip) {
      if (reference_match(p, i + 1, k, skip)) return true;
    }
    return false;
  }
  if (j == k.size()) return false;
  return (p[i] == "*" || p[i] == k[j]) && reference_match(p, i + 1, k, j + 1);
}

std::string random_dotted(std::mt19937& rng, const std::vector<std::string>& vocabulary) {
  std::string s;
  std::size_t words = rng() % 5;
  for (std::size_t i = 0; i < words; ++i) {
    if (i > 0) s += '.';
    s += vocabulary[rng() % vocabulary.size()];
  }
  return s;
}

// Random patterns and keys over a tiny vocabulary (so they collide often), with random
// unbinds in between, against the reference.
TEST(TopicRouter, AgreesWithReferenceOnRandomPatterns) {
  Harness h;
  std::mt19937 rng(42);
  const std::vector<std::string> pattern_words = {"a", "b", "", "*", "#"};
  const std::vector<std::string> key_words = {"a", "b", ""};
  std::map<std::string, bool> bound;

  for (int round = 0; round < 200; ++round) {
    std::string pattern = random_dotted(rng, pattern_words);
    if (bound[pattern] && rng() % 2 == 0) {
      ASSERT_TRUE(h.r.unbind(h.q(pattern), pattern, kNoArguments));
      bound[pattern] = false;
    } else if (!bound[pattern]) {
      ASSERT_TRUE(h.r.bind(h.q(pattern), pattern, kNoArguments));
      bound[pattern] = true;
    }

    for (int probe = 0; probe < 10; ++probe) {
      std::string key = random_dotted(rng, key_words);
      std::vector<std::string> words = split(key);
      Names want;
      for (const auto& [p, on] : bound) {
        if (on && reference_match(split(p), 0, words, 0)) want.push_back(p);
      }
      ASSERT_EQ(h.matching(key), want) << "key '" << key << "'";
    }
  }
}

}  // namespace
}  // namespace sluice::broker
