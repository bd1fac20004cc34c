#include "tools/perf/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sluice::perf {

Histogram::Histogram() : counts_(kBucketCount, 0) {}

std::size_t Histogram::bucket_index(std::uint64_t value) {
  if (value < kSubBuckets) return static_cast<std::size_t>(value);
  // shift is how many low bits a bucket in this power of two ignores; the top kSubBucketBits+1
  // bits (leading one included) pick the bucket.
  const int shift = std::bit_width(value) - 1 - kSubBucketBits;
  const std::uint64_t sub = (value >> shift) - kSubBuckets;
  return static_cast<std::size_t>(kSubBuckets * (static_cast<std::uint64_t>(shift) + 1) + sub);
}

std::uint64_t Histogram::bucket_upper(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::uint64_t shift = index / kSubBuckets - 1;
  const std::uint64_t sub = index % kSubBuckets;
  const std::uint64_t low = (kSubBuckets + sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t value) {
  ++counts_[bucket_index(value)];
  min_ = count_ == 0 ? value : std::min(min_, value);
  max_ = std::max(max_, value);
  ++count_;
  sum_ += static_cast<long double>(value);
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::reset() { *this = Histogram(); }

double Histogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Rank of the value we want, 1-based; p = 0 asks for the smallest. 99.9 has no exact binary
  // form, so shave a rounding error off before ceil(): 99.9% of 1000 must be rank 999.
  const double exact = p * static_cast<double>(count_) / 100.0;
  const double rank_f = std::ceil(exact - exact * 1e-12);
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rank_f));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_upper(i), min_, max_);
  }
  return max_;
}

}  // namespace sluice::perf
