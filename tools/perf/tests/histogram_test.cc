#include "tools/perf/histogram.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace sluice::perf {
namespace {

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < Histogram::kSubBuckets * 2; ++v) {
    EXPECT_EQ(Histogram::bucket_upper(Histogram::bucket_index(v)), v) << v;
  }
}

TEST(Histogram, BucketsCoverEveryValueWithBoundedError) {
  // Walk values of every magnitude: each must land in a bucket whose upper bound is at or
  // above it and within 1/kSubBuckets of it.
  for (int bit = 0; bit < 64; ++bit) {
    const std::uint64_t base = std::uint64_t{1} << bit;
    for (const std::uint64_t v : {base, base + base / 3, base + base / 2, (base << 1) - 1}) {
      const std::size_t index = Histogram::bucket_index(v);
      ASSERT_LT(index, Histogram::kBucketCount) << v;
      const std::uint64_t upper = Histogram::bucket_upper(index);
      EXPECT_GE(upper, v);
      EXPECT_LE(upper - v, v / Histogram::kSubBuckets) << v;
    }
  }
  EXPECT_EQ(Histogram::bucket_index(std::numeric_limits<std::uint64_t>::max()),
            Histogram::kBucketCount - 1);
}

TEST(Histogram, BucketIndexIsMonotonic) {
  std::size_t last = 0;
  for (std::uint64_t v = 1; v < 1'000'000; v += 7) {
    const std::size_t index = Histogram::bucket_index(v);
    EXPECT_GE(index, last);
    last = index;
  }
}

TEST(Histogram, PercentilesOfUniformValues) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100'000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100'000u);
  EXPECT_NEAR(h.mean(), 50'000.5, 1e-6);
  auto near = [](std::uint64_t got, double want) {
    EXPECT_GE(static_cast<double>(got), want);
    EXPECT_LE(static_cast<double>(got), want * (1.0 + 1.0 / Histogram::kSubBuckets));
  };
  near(h.percentile(50), 50'000);
  near(h.percentile(99), 99'000);
  near(h.percentile(99.9), 99'900);
  EXPECT_EQ(h.percentile(100), 100'000u);
  EXPECT_EQ(h.percentile(0), 1u);
}

TEST(Histogram, PercentileNeverExceedsMaxOrUndercutsMin) {
  Histogram h;
  h.record(1'000'001);  // its bucket's upper bound is higher than the value
  EXPECT_EQ(h.percentile(50), 1'000'001u);
  EXPECT_EQ(h.percentile(100), 1'000'001u);
}

TEST(Histogram, SingleOutlierShowsOnlyInTheTail) {
  Histogram h;
  for (int i = 0; i < 999; ++i) h.record(100);
  h.record(5'000'000);
  EXPECT_EQ(h.percentile(50), 100u);
  EXPECT_EQ(h.percentile(99.9), 100u);  // rank 999 of 1000
  EXPECT_EQ(h.percentile(99.95), 5'000'000u);
  EXPECT_EQ(h.max(), 5'000'000u);
}

TEST(Histogram, MergeAddsCountsAndKeepsExtremes) {
  Histogram a;
  Histogram b;
  Histogram empty;
  for (int i = 0; i < 10; ++i) a.record(10);
  for (int i = 0; i < 30; ++i) b.record(1000);
  a.merge(b);
  a.merge(empty);
  EXPECT_EQ(a.count(), 40u);
  EXPECT_EQ(a.min(), 10u);
  EXPECT_EQ(a.max(), 1000u);
  EXPECT_EQ(a.percentile(25), 10u);
  EXPECT_GE(a.percentile(26), 1000u);

  empty.merge(b);
  EXPECT_EQ(empty.min(), 1000u);
}

TEST(Histogram, ResetForgetsEverything) {
  Histogram h;
  h.record(42);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(99), 0u);
}

}  // namespace
}  // namespace sluice::perf
