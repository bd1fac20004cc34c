#include "common/log_budget.h"

#include <gtest/gtest.h>

namespace sluice::log {
namespace {

using std::chrono::seconds;

TEST(LogBudget, LetsABurstThroughPerIntervalAndCountsTheRest) {
  LogBudget budget(3, seconds(10));
  const auto t0 = LogBudget::Clock::time_point{} + seconds(100);
  std::uint64_t held = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(budget.allow(held, t0));
    EXPECT_EQ(held, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(budget.allow(held, t0 + seconds(9)));

  // The next interval: the first line through says how many were held back.
  EXPECT_TRUE(budget.allow(held, t0 + seconds(10)));
  EXPECT_EQ(held, 5u);
  EXPECT_TRUE(budget.allow(held, t0 + seconds(11)));
  EXPECT_EQ(held, 0u);
}

TEST(LogBudget, NoteNamesTheCount) {
  EXPECT_EQ(held_back_note(0), "");
  EXPECT_EQ(held_back_note(7), " (7 similar lines held back)");
}

}  // namespace
}  // namespace sluice::log
