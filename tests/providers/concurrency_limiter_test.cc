#include "providers/concurrency_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnigate::providers {
namespace {

TEST(ConcurrencyLimiter, QueuesOverTheLimitTransactionalFirst) {
  ConcurrencyLimiter limiter(1);
  std::vector<std::string> order;
  limiter.Run(true, [&](bool run) { order.push_back(run ? "bulk-0" : "x"); });
  limiter.Run(true, [&](bool run) { order.push_back(run ? "bulk-1" : "x"); });
  limiter.Run(false, [&](bool run) { order.push_back(run ? "otp" : "x"); });
  EXPECT_EQ(limiter.queued(), 2u);
  limiter.Release();
  limiter.Release();
  EXPECT_EQ(order, (std::vector<std::string>{"bulk-0", "otp", "bulk-1"}));
}

// Shutdown: what waits for a slot is handed back unsent; what runs is untouched.
TEST(ConcurrencyLimiter, AbandonQueuedHandsBackEveryWaitingTaskUnrun) {
  ConcurrencyLimiter limiter(2);
  int ran = 0;
  int abandoned = 0;
  for (int i = 0; i < 5; ++i) {
    limiter.Run(i % 2 == 0, [&](bool run) { ++(run ? ran : abandoned); });
  }
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(limiter.AbandonQueued(), 3u);
  EXPECT_EQ(abandoned, 3);
  EXPECT_EQ(limiter.queued(), 0u);
  EXPECT_EQ(limiter.active(), 2u);
  limiter.Release();
  limiter.Release();
  EXPECT_EQ(ran, 2) << "an abandoned task must never run later";
  EXPECT_EQ(limiter.active(), 0u);
}

}  // namespace
}  // namespace omnigate::providers
