#include "tools/perf/confirm_tracker.h"

#include <gtest/gtest.h>

namespace sluice::perf {
namespace {

TEST(ConfirmTracker, TagsStartAtOneAndFillTheWindow) {
  ConfirmTracker t(3);
  EXPECT_TRUE(t.idle());
  EXPECT_EQ(t.on_publish(100), 1u);
  EXPECT_EQ(t.on_publish(100), 2u);
  EXPECT_EQ(t.on_publish(100), 3u);
  EXPECT_EQ(t.room(), 0u);
  EXPECT_FALSE(t.idle());
}

TEST(ConfirmTracker, MultipleAckSettlesEverythingUpToTheTag) {
  ConfirmTracker t(8);
  for (int i = 0; i < 5; ++i) t.on_publish(100);
  Histogram latency;
  EXPECT_EQ(t.on_confirm(4, true, 350, &latency), 4u);
  EXPECT_EQ(latency.count(), 4u);
  EXPECT_EQ(latency.max(), 250u);
  EXPECT_EQ(t.room(), 7u);
  EXPECT_EQ(t.on_confirm(5, false, 400, nullptr), 1u);
  EXPECT_TRUE(t.idle());
}

TEST(ConfirmTracker, OutOfOrderSingleAcksFreeTheWindowOnlyFromTheOldest) {
  ConfirmTracker t(3);
  for (int i = 0; i < 3; ++i) t.on_publish(0);
  EXPECT_EQ(t.on_confirm(2, false, 1, nullptr), 1u);
  EXPECT_EQ(t.room(), 0u);  // tag 1 still holds the oldest slot
  EXPECT_EQ(t.on_confirm(1, false, 1, nullptr), 1u);
  EXPECT_EQ(t.room(), 2u);
  // A multiple ack over a gap settles only what is still pending.
  EXPECT_EQ(t.on_confirm(3, true, 1, nullptr), 1u);
  EXPECT_TRUE(t.idle());
}

TEST(ConfirmTracker, DuplicateAndUnknownTagsAreIgnored) {
  ConfirmTracker t(4);
  t.on_publish(0);
  EXPECT_EQ(t.on_confirm(1, false, 1, nullptr), 1u);
  EXPECT_EQ(t.on_confirm(1, false, 1, nullptr), 0u);
  EXPECT_EQ(t.on_confirm(7, true, 1, nullptr), 0u);
  EXPECT_TRUE(t.idle());
}

TEST(ConfirmTracker, RingWrapsAroundManyTimes) {
  ConfirmTracker t(2);
  for (std::uint64_t tag = 1; tag <= 1000; ++tag) {
    ASSERT_EQ(t.on_publish(tag), tag);
    ASSERT_EQ(t.on_confirm(tag, true, tag, nullptr), 1u);
  }
  EXPECT_TRUE(t.idle());
}

}  // namespace
}  // namespace sluice::perf
