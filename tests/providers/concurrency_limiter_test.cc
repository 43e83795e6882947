#include "providers/concurrency_limiter.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace omnigate::providers {
namespace {

TEST(ConcurrencyLimiter, QueuesOverTheLimitTransactionalFirst) {
  ConcurrencyLimiter limiter(1);
  std::vector<std::string> order;
  std::vector<LimiterSlot> slots;
  auto task = [&](std::string name) {
    return [&, name](LimiterSlot slot) {
      order.push_back(slot.held() ? name : "abandoned");
      slots.push_back(slot);
    };
  };
  limiter.Run(true, task("bulk-0"));
  limiter.Run(true, task("bulk-1"));
  limiter.Run(false, task("otp"));
  EXPECT_EQ(limiter.queued(), 2u);
  EXPECT_EQ(limiter.active(), 1u);
  slots[0].Release();
  slots[1].Release();
  EXPECT_EQ(order, (std::vector<std::string>{"bulk-0", "otp", "bulk-1"}));
  EXPECT_EQ(limiter.active(), 1u);
}

// Shutdown: what waits for a slot is handed back unsent; what runs is untouched.
TEST(ConcurrencyLimiter, AbandonQueuedHandsBackEveryWaitingTaskUnrun) {
  ConcurrencyLimiter limiter(2);
  int ran = 0;
  int abandoned = 0;
  std::vector<LimiterSlot> slots;
  for (int i = 0; i < 5; ++i) {
    limiter.Run(i % 2 == 0, [&](LimiterSlot slot) {
      ++(slot.held() ? ran : abandoned);
      if (slot.held()) slots.push_back(slot);
    });
  }
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(limiter.AbandonQueued(), 3u);
  EXPECT_EQ(abandoned, 3);
  EXPECT_EQ(limiter.queued(), 0u);
  EXPECT_EQ(limiter.active(), 2u);
  slots.clear();
  EXPECT_EQ(ran, 2) << "an abandoned task must never run later";
  EXPECT_EQ(limiter.active(), 0u);
}

// The pipeline holds a send's slot past the provider's answer (until the send
// is recorded): the slot is freed once, by whichever copy goes first.
TEST(ConcurrencyLimiter, ASlotIsFreedOnceByReleaseOrByItsLastCopy) {
  ConcurrencyLimiter limiter(1);
  LimiterSlot kept;
  limiter.Run(false, [&](LimiterSlot slot) { kept = slot; });
  int second = 0;
  limiter.Run(false, [&](LimiterSlot slot) { second += slot.held() ? 1 : 100; });
  EXPECT_EQ(second, 0) << "the first send still holds the only slot";
  {
    LimiterSlot copy = kept;
    copy.Release();
  }
  EXPECT_EQ(second, 1);
  EXPECT_FALSE(kept.held()) << "released through a copy";
  kept.Release();  // a second release frees nothing more
  EXPECT_EQ(limiter.active(), 0u);

  LimiterSlot dropped;
  limiter.Run(false, [&](LimiterSlot slot) { dropped = slot; });
  EXPECT_EQ(limiter.active(), 1u);
  dropped = LimiterSlot();
  EXPECT_EQ(limiter.active(), 0u) << "dropping the last copy frees the slot";
}

// A store may still hold a send's callback when the worker's adapters are
// gone (shutdown); its slot then frees nothing and touches nothing.
TEST(ConcurrencyLimiter, ASlotOutlivingItsLimiterIsHarmless) {
  LimiterSlot slot;
  {
    auto limiter = std::make_unique<ConcurrencyLimiter>(1);
    limiter->Run(false, [&](LimiterSlot s) { slot = s; });
    EXPECT_TRUE(slot.held());
  }
  EXPECT_FALSE(slot.held());
  slot.Release();
}

}  // namespace
}  // namespace omnigate::providers
