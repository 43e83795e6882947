// One suite for every backend of the state store (DESIGN.md §9): each
// behaviour runs on each backend, as the transport suite does for both HTTP
// engines.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gateway/state/embedded_store.h"
#include "tests/support/wait.h"

namespace omnigate::state {
namespace {

using namespace std::chrono_literals;

class EmbeddedBackend {
 public:
  explicit EmbeddedBackend(const Clock& clock) : clock_(clock) { Reopen(); }
  StateStore& store() { return *store_; }
  // Closes and opens the same directory: what survives a restart.
  void Reopen() {
    store_.reset();
    auto s = EmbeddedStore::Open({.path = dir_.File("state")}, clock_);
    EXPECT_TRUE(s) << (s ? "" : s.error());
    store_ = std::move(s).value();
  }
  void Compact() { store_->CompactForTests(); }

 private:
  const Clock& clock_;
  testing::TempDir dir_;
  std::unique_ptr<EmbeddedStore> store_;
};

template <typename Backend>
class StateStoreTest : public ::testing::Test {
 protected:
  StateStoreTest() : backend_(clock_) {}

  StoreStatus Run(std::vector<Op>& ops) {
    StoreStatus status = StoreStatus::unavailable;
    bool called = false;
    backend_.store().Execute(ops, [&](StoreStatus s) {
      status = s;
      called = true;
    });
    EXPECT_TRUE(testing::WaitFor([&] { return called; }, 10s));
    return status;
  }
  Op One(Op op) {
    std::vector<Op> ops{std::move(op)};
    EXPECT_EQ(Run(ops), StoreStatus::ok);
    return ops[0];
  }
  static Op Get(Family f, std::string key) {
    return {.type = Op::Type::get, .family = f, .key = std::move(key)};
  }
  static Op Claim(Family f, std::string key, std::string value, std::chrono::milliseconds ttl) {
    return {.type = Op::Type::put_if_absent, .family = f, .key = std::move(key),
            .value = std::move(value), .ttl = ttl};
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000))};
  Backend backend_;
};

using Backends = ::testing::Types<EmbeddedBackend>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, EmbeddedBackend>) return "Embedded";
    return "Unknown";
  }
};
TYPED_TEST_SUITE(StateStoreTest, Backends, BackendNames);

TYPED_TEST(StateStoreTest, PutGetEraseRoundTrip) {
  EXPECT_FALSE(this->One(this->Get(Family::suppression, "t|a@x.io|email")).found);
  this->One({.type = Op::Type::put, .family = Family::suppression, .key = "t|a@x.io|email",
             .value = "unsubscribed"});
  const Op got = this->One(this->Get(Family::suppression, "t|a@x.io|email"));
  EXPECT_TRUE(got.found);
  EXPECT_EQ(got.result, "unsubscribed");
  // Families are separate namespaces.
  EXPECT_FALSE(this->One(this->Get(Family::consent, "t|a@x.io|email")).found);
  EXPECT_TRUE(this->One({.type = Op::Type::erase, .family = Family::suppression,
                         .key = "t|a@x.io|email"}).found);
  EXPECT_FALSE(this->One(this->Get(Family::suppression, "t|a@x.io|email")).found);
  EXPECT_FALSE(this->One({.type = Op::Type::erase, .family = Family::suppression,
                          .key = "t|a@x.io|email"}).found);
}

TYPED_TEST(StateStoreTest, ClaimSucceedsOnceUntilItExpires) {
  Op first = this->One(this->Claim(Family::dedup, "shop|order-1", "claimed", 24h));
  EXPECT_FALSE(first.found) << "the first claim stores";
  Op second = this->One(this->Claim(Family::dedup, "shop|order-1", "claimed-again", 24h));
  EXPECT_TRUE(second.found);
  EXPECT_EQ(second.result, "claimed");
  // One millisecond before the window ends it still holds; at its end it is gone.
  this->clock_.Advance(24h - 1ms);
  EXPECT_TRUE(this->One(this->Claim(Family::dedup, "shop|order-1", "x", 24h)).found);
  this->clock_.Advance(1ms);
  EXPECT_FALSE(this->One(this->Get(Family::dedup, "shop|order-1")).found);
  EXPECT_FALSE(this->One(this->Claim(Family::dedup, "shop|order-1", "new", 24h)).found);
}

TYPED_TEST(StateStoreTest, ABatchGetsEveryResultInOneCallback) {
  std::vector<Op> ops = {this->Claim(Family::dedup, "k1", "v1", 1h),
                         this->Claim(Family::dedup, "k1", "v2", 1h),
                         this->Get(Family::dedup, "k1"), this->Get(Family::dedup, "k2")};
  ASSERT_EQ(this->Run(ops), StoreStatus::ok);
  EXPECT_FALSE(ops[0].found);
  EXPECT_TRUE(ops[1].found);
  EXPECT_EQ(ops[1].result, "v1");
  EXPECT_TRUE(ops[2].found);
  EXPECT_EQ(ops[2].result, "v1");
  EXPECT_FALSE(ops[3].found);
}

TYPED_TEST(StateStoreTest, ConcurrentClaimsOfOneKeyHaveExactlyOneWinner) {
  constexpr int kThreads = 8;
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 200; ++k) {
        std::vector<Op> ops{this->Claim(Family::dedup, "race-" + std::to_string(k),
                                        "thread-" + std::to_string(t), 1h)};
        this->backend_.store().Execute(ops, [&](StoreStatus s) {
          if (s == StoreStatus::ok && !ops[0].found) ++winners;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(winners.load(), 200);
}

TYPED_TEST(StateStoreTest, RecordsSurviveARestartAndExpiredOnesDoNotComeBack) {
  this->One({.type = Op::Type::put, .family = Family::suppression, .key = "forever", .value = "x"});
  this->One({.type = Op::Type::put, .family = Family::dedup, .key = "short", .value = "y",
             .ttl = 10min});
  this->backend_.Reopen();
  EXPECT_TRUE(this->One(this->Get(Family::suppression, "forever")).found);
  EXPECT_TRUE(this->One(this->Get(Family::dedup, "short")).found);
  this->clock_.Advance(11min);
  this->backend_.Reopen();
  EXPECT_FALSE(this->One(this->Get(Family::dedup, "short")).found);
  EXPECT_TRUE(this->One(this->Get(Family::suppression, "forever")).found);
}

TEST(EmbeddedStore, CompactionDropsRowsExpiredByTheWallClock) {
  testing::TempDir dir;
  // The rows are written with a clock far in the past, so that by the real
  // clock that compaction uses they expired long ago.
  ManualClock past(std::chrono::system_clock::now() - std::chrono::hours(48));
  auto store = EmbeddedStore::Open({.path = dir.File("s")}, past);
  ASSERT_TRUE(store) << store.error();
  std::vector<Op> ops = {{.type = Op::Type::put, .family = Family::dedup, .key = "old",
                          .value = "v", .ttl = 1h},
                         {.type = Op::Type::put, .family = Family::dedup, .key = "kept",
                          .value = "v"}};
  (*store)->Execute(ops, [](StoreStatus) {});
  (*store)->CompactForTests();
  // Still live by the store's (past) clock: only the compaction can have
  // removed the expired row.
  std::vector<Op> reads = {{.type = Op::Type::get, .family = Family::dedup, .key = "old"},
                           {.type = Op::Type::get, .family = Family::dedup, .key = "kept"}};
  (*store)->Execute(reads, [](StoreStatus) {});
  EXPECT_FALSE(reads[0].found);
  EXPECT_TRUE(reads[1].found);
}

TEST(EmbeddedStore, APathItCannotUseIsAClearError) {
  auto store = EmbeddedStore::Open({.path = "/proc/omnigate-state"}, SystemClock::Instance());
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("state.path '/proc/omnigate-state'"), std::string::npos)
      << store.error();
}

}  // namespace
}  // namespace omnigate::state
