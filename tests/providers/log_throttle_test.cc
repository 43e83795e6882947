#include "providers/log_throttle.h"

#include <gtest/gtest.h>

namespace omnigate::providers {
namespace {

// The first call for a key logs; calls inside the period are counted and the
// next line that logs says how many it stood for. Keys are independent.
TEST(ShouldLog, OncePerPeriodPerKeyWithTheCountOfWhatItHeldBack) {
  std::uint64_t held = 99;
  EXPECT_TRUE(ShouldLog("test-scope", "a", std::chrono::seconds(0), &held));
  EXPECT_EQ(held, 0u);
  EXPECT_TRUE(ShouldLog("test-scope", "b", std::chrono::seconds(3600)));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(ShouldLog("test-scope", "b", std::chrono::seconds(3600)));
  // A zero period lets the next call through with the count of none held.
  EXPECT_TRUE(ShouldLog("test-scope", "a", std::chrono::seconds(0), &held));
  EXPECT_EQ(held, 0u);
  // Period over for "b" (asked with a zero period): five were held back.
  EXPECT_TRUE(ShouldLog("test-scope", "b", std::chrono::seconds(0), &held));
  EXPECT_EQ(held, 5u);
}

}  // namespace
}  // namespace omnigate::providers
