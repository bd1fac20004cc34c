// Topic routing micro-benchmark: route(), bind and unbind on a topic exchange with 100,000
// bindings, as a broker with many subscribers would hold on amq.topic.
//
// Keys have four words, region.service.host.level, over vocabularies of 20, 50, 1000 and 10
// words. The bindings are 70% literal patterns, 20% with one or two '*' and 10% with '#' in
// four shapes (r.s.#, #.h.l, r.#.l, *.s.h.#), spread over 10,000 queues. Wildcards stay
// selective, as subscriptions usually are: a random key matches about 25 bindings. A second
// router holds 100,000 patterns that all have two '#', the shape that makes route() carry the
// most '#' nodes along.
//
//   cmake -S . -B build-routing-rel -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build-routing-rel --target topic_routing_bench
//   ./build-routing-rel/bin/topic_routing_bench

#include <benchmark/benchmark.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "amqp/field_table.h"
#include "broker/routing/topic_router.h"

namespace sluice::broker {
namespace {

constexpr std::size_t kBindings = 100'000;
constexpr std::size_t kQueues = 10'000;
constexpr std::size_t kLevelSizes[] = {20, 50, 1000, 10};
constexpr std::size_t kLevels = std::size(kLevelSizes);

struct Queue : BindingTarget {
  Queue() : BindingTarget(Kind::Queue) {}
};

// NOTE: words are replaced with assign(1, '*'), not `= "*"`: GCC 12 at -O3 reports a false
// -Wrestrict when a short literal is assigned to a std::string (GCC bug 105329).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

std::string word(std::size_t level, std::size_t i) {
  static constexpr const char* kPrefix[] = {"region", "service", "host", "level"};
  return cat({kPrefix[level], std::to_string(i)});
}

class Workload {
 public:
  explicit Workload(std::uint32_t seed) : rng_(seed) {}

  std::vector<std::string> literal_words() {
    std::vector<std::string> words;
    for (std::size_t level = 0; level < kLevels; ++level) {
      words.push_back(word(level, rng_() % kLevelSizes[level]));
    }
    return words;
  }

  std::string key() { return join(literal_words()); }

  std::string pattern() {
    std::vector<std::string> words = literal_words();
    unsigned dice = rng_() % 100;
    if (dice < 70) return join(words);
    if (dice < 90) {
      words[rng_() % kLevels].assign(1, '*');
      if (rng_() % 2 == 0) words[rng_() % kLevels].assign(1, '*');
      return join(words);
    }
    switch (rng_() % 4) {
      case 0:
        return cat({words[0], ".", words[1], ".#"});
      case 1:
        return cat({"#.", words[2], ".", words[3]});
      case 2:
        return cat({words[0], ".#.", words[3]});
      default:
        return cat({"*.", words[1], ".", words[2], ".#"});
    }
  }

  // Every pattern has two '#', so the set of '#' nodes a route has to carry along is as large
  // as this shape of subscription can make it.
  std::string hash_pattern() {
    std::vector<std::string> w = literal_words();
    switch (rng_() % 4) {
      case 0:
        return cat({"#.", w[2], ".#"});
      case 1:
        return cat({w[0], ".#.", w[3], ".#"});
      case 2:
        return cat({"#.", w[1], ".#.", w[3]});
      default:
        return cat({"#.#.", w[2]});
    }
  }

  std::size_t pick(std::size_t n) { return rng_() % n; }

 private:
  static std::string join(const std::vector<std::string>& words) {
    std::string s = words[0];
    for (std::size_t i = 1; i < words.size(); ++i) {
      s += '.';
      s += words[i];
    }
    return s;
  }

  std::mt19937 rng_;
};

// A router with kBindings bindings, built once and shared by the benchmarks that only read it.
struct Fixture {
  explicit Fixture(bool hash_heavy) : queues(kQueues) {
    Workload w(1);
    while (router.binding_count() < kBindings) {
      std::string p = hash_heavy ? w.hash_pattern() : w.pattern();
      if (router.bind(&queues[w.pick(kQueues)], p, {})) patterns.push_back(std::move(p));
    }
  }

  std::vector<Queue> queues;
  TopicRouter router;
  std::vector<std::string> patterns;
};

Fixture& fixture() {
  static Fixture f(false);
  return f;
}

Fixture& hash_heavy_fixture() {
  static Fixture f(true);
  return f;
}

// Routes the keys in turn, one per iteration, and reports the average number of matches.
void route_keys(benchmark::State& state, const TopicRouter& router,
                const std::vector<std::string>& keys) {
  std::vector<BindingTarget*> out;
  std::size_t i = 0;
  std::size_t matched = 0;
  for (auto _ : state) {
    out.clear();
    router.route(keys[i++ % keys.size()], nullptr, out);
    matched += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches/route"] =
      benchmark::Counter(static_cast<double>(matched) / static_cast<double>(state.iterations()));
}

std::vector<std::string> random_keys() {
  Workload w(2);
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) keys.push_back(w.key());
  return keys;
}

// Keys drawn at random: most match only a few wildcard bindings.
void BM_RouteRandomKey(benchmark::State& state) {
  route_keys(state, fixture().router, random_keys());
}
BENCHMARK(BM_RouteRandomKey);

// Random keys against 100,000 patterns that all have two '#' (there are fewer distinct ones,
// so some patterns hold several queues).
void BM_RouteRandomKeyAllHashPatterns(benchmark::State& state) {
  route_keys(state, hash_heavy_fixture().router, random_keys());
}
BENCHMARK(BM_RouteRandomKeyAllHashPatterns);

// Keys equal to bound literal patterns: every route finds at least one binding.
void BM_RouteBoundKey(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<std::string> keys;
  for (const std::string& p : f.patterns) {
    if (p.find_first_of("*#") == std::string::npos) keys.push_back(p);
    if (keys.size() == 4096) break;
  }
  route_keys(state, f.router, keys);
}
BENCHMARK(BM_RouteBoundKey);

// One bind and one unbind of a fresh pattern on the 100,000-binding router: steady-state
// cost of a subscriber coming and going.
void BM_BindUnbind(benchmark::State& state) {
  Fixture& f = fixture();
  Workload w(3);
  std::vector<std::string> fresh;
  for (int i = 0; i < 4096; ++i) fresh.push_back(cat({w.pattern(), ".fresh"}));
  Queue q;

  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& p = fresh[i++ % fresh.size()];
    benchmark::DoNotOptimize(f.router.bind(&q, p, {}));
    benchmark::DoNotOptimize(f.router.unbind(&q, p, {}));
  }
}
BENCHMARK(BM_BindUnbind);

// Building a 100,000-binding router from empty, then tearing it down binding by binding;
// reported per binding.
void BM_BindAllThenUnbindAll(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    TopicRouter router;
    for (std::size_t i = 0; i < f.patterns.size(); ++i) {
      router.bind(&f.queues[i % kQueues], f.patterns[i], {});
    }
    for (std::size_t i = 0; i < f.patterns.size(); ++i) {
      router.unbind(&f.queues[i % kQueues], f.patterns[i], {});
    }
    benchmark::DoNotOptimize(router.binding_count());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(f.patterns.size()));
}
BENCHMARK(BM_BindAllThenUnbindAll)->Unit(benchmark::kMillisecond);

// unbind_all for one queue holding about ten of the 100,000 bindings (a queue being deleted),
// re-binding them between iterations outside the timed region.
void BM_UnbindAllOneQueue(benchmark::State& state) {
  Fixture& f = fixture();
  Workload w(4);
  std::vector<std::string> mine;
  for (int i = 0; i < 10; ++i) mine.push_back(cat({w.pattern(), ".mine"}));
  Queue q;

  for (auto _ : state) {
    state.PauseTiming();
    for (const std::string& p : mine) f.router.bind(&q, p, {});
    state.ResumeTiming();
    f.router.unbind_all(&q);
  }
}
BENCHMARK(BM_UnbindAllOneQueue);

}  // namespace
}  // namespace sluice::broker

BENCHMARK_MAIN();
