#include "providers/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace omnigate::providers {
namespace {

using namespace std::chrono_literals;
using State = CircuitBreaker::State;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker::TimePoint t0 = CircuitBreaker::TimePoint{} + 1000h;
  CircuitBreaker breaker{{.failures = 3, .open_for = 10s, .max_open_for = 35s}};

  void Fail(int n, CircuitBreaker::TimePoint at) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(breaker.Allow(at));
      breaker.Record(false, at);
    }
  }
};

TEST_F(CircuitBreakerTest, OpensAfterTheConfiguredFailuresInARow) {
  Fail(2, t0);
  EXPECT_EQ(breaker.state(), State::closed);
  // A success between failures starts the count again.
  breaker.Record(true, t0);
  Fail(2, t0);
  EXPECT_EQ(breaker.state(), State::closed);
  Fail(1, t0);
  EXPECT_EQ(breaker.state(), State::open);
  EXPECT_EQ(breaker.opened_total(), 1u);
  EXPECT_EQ(breaker.retry_at(), t0 + 10s);
  EXPECT_FALSE(breaker.Allow(t0 + 9s));
  EXPECT_EQ(breaker.rejected_total(), 1u);
}

TEST_F(CircuitBreakerTest, LetsOneProbeThroughAfterTheOpenPeriodAndClosesOnItsSuccess) {
  Fail(3, t0);
  ASSERT_TRUE(breaker.Allow(t0 + 10s));  // the probe
  EXPECT_EQ(breaker.state(), State::half_open);
  EXPECT_FALSE(breaker.Allow(t0 + 10s));  // only one at a time
  EXPECT_FALSE(breaker.Allow(t0 + 11s));
  breaker.Record(true, t0 + 11s);
  EXPECT_EQ(breaker.state(), State::closed);
  EXPECT_TRUE(breaker.Allow(t0 + 11s));
  EXPECT_TRUE(breaker.Allow(t0 + 11s));
  // Closed again, it takes the full count of failures to open.
  Fail(2, t0 + 12s);
  EXPECT_EQ(breaker.state(), State::closed);
}

TEST_F(CircuitBreakerTest, AFailedProbeOpensItForTwiceAsLongUpToTheCap) {
  Fail(3, t0);
  auto now = t0 + 10s;
  for (auto expected : {20s, 35s, 35s}) {
    ASSERT_TRUE(breaker.Allow(now));
    breaker.Record(false, now);
    EXPECT_EQ(breaker.state(), State::open);
    EXPECT_EQ(breaker.retry_at(), now + expected);
    EXPECT_FALSE(breaker.Allow(now + expected - 1ms));
    now += expected;
  }
  EXPECT_EQ(breaker.opened_total(), 4u);
  // A success resets the period: the next opening is the base one again.
  ASSERT_TRUE(breaker.Allow(now));
  breaker.Record(true, now);
  Fail(3, now);
  EXPECT_EQ(breaker.retry_at(), now + 10s);
}

TEST_F(CircuitBreakerTest, ACancelledProbeLetsTheNextSendProbe) {
  Fail(3, t0);
  ASSERT_TRUE(breaker.Allow(t0 + 10s));
  EXPECT_FALSE(breaker.Allow(t0 + 10s));
  breaker.Cancel();
  EXPECT_TRUE(breaker.Allow(t0 + 10s));
  EXPECT_EQ(breaker.state(), State::half_open);
}

TEST_F(CircuitBreakerTest, FailuresOfSendsAlreadyOnTheWireDoNotExtendAnOpenPeriod) {
  Fail(3, t0);
  breaker.Record(false, t0 + 5s);
  EXPECT_EQ(breaker.retry_at(), t0 + 10s);
  EXPECT_EQ(breaker.opened_total(), 1u);
}

TEST(CircuitBreaker, ZeroFailuresNeverOpens) {
  CircuitBreaker off({.failures = 0});
  const auto now = CircuitBreaker::TimePoint{} + 1h;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(off.Allow(now));
    off.Record(false, now);
  }
  EXPECT_EQ(off.state(), State::closed);
  EXPECT_EQ(off.opened_total(), 0u);
}

// Two threads (the workers) on one breaker, one failing every send: it
// opens, rejects, and every send it let through is recorded without a
// race (make test-tsan runs this binary).
TEST(CircuitBreaker, WorkersShareIt) {
  CircuitBreaker shared({.failures = 4, .open_for = 1ms, .max_open_for = 1ms});
  std::atomic<std::uint64_t> allowed{0};
  auto work = [&](bool fail) {
    for (int i = 0; i < 20'000; ++i) {
      const auto now = std::chrono::steady_clock::now();
      if (!shared.Allow(now)) continue;
      allowed.fetch_add(1);
      shared.Record(!fail, now);
    }
  };
  std::thread a(work, true);
  std::thread b(work, false);
  a.join();
  b.join();
  EXPECT_GT(shared.opened_total(), 0u);
  EXPECT_EQ(allowed.load() + shared.rejected_total(), 40'000u);
}

TEST(CircuitBreaker, StatesHaveMetricNames) {
  EXPECT_EQ(ToString(State::closed), "closed");
  EXPECT_EQ(ToString(State::open), "open");
  EXPECT_EQ(ToString(State::half_open), "half_open");
}

}  // namespace
}  // namespace omnigate::providers
