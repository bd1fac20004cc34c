#pragma once

// A log-linear latency histogram in the spirit of HdrHistogram, fixed at about 0.8% relative
// precision over the whole 64-bit range.
//
// Values below kSubBuckets are counted exactly. Above that, each power of two [2^e, 2^(e+1))
// is split into kSubBuckets equal buckets, so a bucket is never wider than 1/kSubBuckets of
// the values it holds. percentile() answers with the highest value a bucket can hold (as
// HdrHistogram does), so reported latencies err on the high side, never below the truth.
//
// Not thread-safe: each thread records into its own histogram, and they are merged at the end.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::perf {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  // Exact buckets, plus kSubBuckets per power of two from 2^kSubBucketBits up to 2^63.
  static constexpr std::size_t kBucketCount = kSubBuckets * (64 - kSubBucketBits + 1);

  Histogram();

  void record(std::uint64_t value);
  void merge(const Histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  // Both 0 when the histogram is empty.
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const;

  // The smallest bucket bound such that at least p percent of the values are at or below it,
  // clamped to max(). p is in [0, 100]; 0 for an empty histogram.
  std::uint64_t percentile(double p) const;

  static std::size_t bucket_index(std::uint64_t value);
  // The largest value that bucket_index() maps to `index`.
  static std::uint64_t bucket_upper(std::size_t index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  // long double keeps the sum exact well past anything a benchmark records.
  long double sum_ = 0;
};

}  // namespace sluice::perf
