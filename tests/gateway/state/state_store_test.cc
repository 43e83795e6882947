// One suite for every backend of the state store (DESIGN.md §9): each
// behaviour runs on each backend, as the transport suite does for both HTTP
// engines.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "tests/gateway/state/store_backends.h"

namespace omnigate::state {
namespace {

using namespace std::chrono_literals;

using namespace testing_backends;

template <typename Backend>
class StateStoreTest : public ::testing::Test {
 protected:
  StateStoreTest() : backend_(clock_) {}

  StoreStatus Run(std::vector<Op>& ops) {
    return RunOps(backend_.store(), ops);
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
  // A dedup claim as the policy makes it: visible at once, durable it need
  // not be.
  static Op UnloggedClaim(std::string key, std::string value) {
    return {.type = Op::Type::put_if_absent, .family = Family::dedup, .key = std::move(key),
            .value = std::move(value), .ttl = 24h, .may_lose_on_crash = true};
  }

  // Eight threads each run make(thread, key) for keys 0..keys-1 at once;
  // returns how many batches won (won(first op) after an ok answer).
  int RaceForKeys(int keys, const std::function<std::vector<Op>(int, int)>& make,
                  const std::function<bool(const Op&)>& won) {
    constexpr int kThreads = 8;
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int k = 0; k < keys; ++k) {
          std::vector<Op> ops = make(t, k);
          if (Run(ops) == StoreStatus::ok && won(ops[0])) ++winners;
        }
      });
    }
    for (auto& th : threads) th.join();
    return winners.load();
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000))};
  Backend backend_;
};

using Backends = ::testing::Types<EmbeddedBackend, RedisBackend>;
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

// A batch larger than one Redis script call (256 ops), with timers among
// its ops: every op answers, in order, and each sees the writes before it
// in the batch, across the calls' boundaries too.
TYPED_TEST(StateStoreTest, ALargeBatchAnswersEveryOpInOrder) {
  std::vector<Op> ops;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "t|big-" + std::to_string(i);
    ops.push_back({.type = Op::Type::put,
                   .family = Family::suppression,
                   .key = key,
                   .value = "v" + std::to_string(i)});
    ops.push_back(this->Get(Family::suppression, key));
    if (i % 100 == 0) {
      ops.push_back({.type = Op::Type::timer_set,
                     .family = Family::timer,
                     .key = "big-timer-" + std::to_string(i),
                     .value = "payload",
                     .due_ms = 1});
    }
  }
  // The claim after its key's put: found, with that put's value.
  ops.push_back(this->Claim(Family::suppression, "t|big-255", "late", 1h));
  ASSERT_EQ(this->Run(ops), StoreStatus::ok);
  int gets = 0;
  for (std::size_t i = 0; i + 1 < ops.size(); ++i) {
    if (ops[i].type != Op::Type::get) continue;
    ++gets;
    EXPECT_TRUE(ops[i].found) << ops[i].key;
    EXPECT_EQ("t|big-" + ops[i].result.substr(1), ops[i].key);
  }
  EXPECT_EQ(gets, 300);
  EXPECT_TRUE(ops.back().found);
  EXPECT_EQ(ops.back().result, "v255");
  EXPECT_TRUE(
      this->One({.type = Op::Type::get, .family = Family::timer, .key = "big-timer-200"}).found);
}

// A batch in parts (a turn's calls): each part's ops get their results in
// place, in the batch's order across the parts, and come back whole.
TYPED_TEST(StateStoreTest, ABatchInPartsAnswersEachPartInPlace) {
  std::vector<Op> a = {this->Claim(Family::dedup, "t|parts-1", "c|a", 1h),
                       {.type = Op::Type::append,
                        .family = Family::counter,
                        .key = "cap-p",
                        .value = "100",
                        .ttl = 1h,
                        .keep = 5}};
  std::vector<Op> b = {this->Claim(Family::dedup, "t|parts-1", "c|b", 1h)};
  std::vector<Op> c = {{.type = Op::Type::append,
                        .family = Family::counter,
                        .key = "cap-p",
                        .value = "200",
                        .ttl = 1h,
                        .keep = 5},
                       this->Get(Family::dedup, "t|parts-2")};
  const std::span<Op> parts[] = {a, b, c};
  ASSERT_EQ(RunParts(this->backend_.store(), parts), StoreStatus::ok);
  EXPECT_FALSE(a[0].found);
  EXPECT_EQ(a[1].result, "100");
  EXPECT_TRUE(b[0].found) << "the claim of the part before";
  EXPECT_EQ(b[0].result, "c|a");
  EXPECT_EQ(c[0].result, "100,200");
  EXPECT_FALSE(c[1].found);
  EXPECT_EQ(b[0].key, "t|parts-1") << "the ops come back whole";
  EXPECT_EQ(c[0].value, "200");
}

// An op the family does not have (a timer_set outside the timer family)
// fails its batch as unavailable, once, whatever else the batch holds.
TYPED_TEST(StateStoreTest, AnOpItsFamilyDoesNotHaveFailsTheBatch) {
  std::vector<Op> ops = {this->Get(Family::dedup, "t|refused-1"),
                         {.type = Op::Type::timer_set,
                          .family = Family::dedup,
                          .key = "t|refused-2",
                          .value = "p",
                          .due_ms = 1}};
  EXPECT_EQ(this->Run(ops), StoreStatus::unavailable);
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

TYPED_TEST(StateStoreTest, AppendKeepsTheNewestItemsAndExpiresWithItsTtl) {
  auto append = [&](const char* item, std::uint32_t keep) {
    return this->One({.type = Op::Type::append, .family = Family::counter, .key = "cap|u-1",
                      .value = item, .ttl = 1h, .keep = keep});
  };
  Op first = append("100", 3);
  EXPECT_FALSE(first.found);
  EXPECT_EQ(first.result, "100");
  EXPECT_EQ(append("200", 3).result, "100,200");
  EXPECT_EQ(append("300", 3).result, "100,200,300");
  Op fourth = append("400", 3);
  EXPECT_TRUE(fourth.found);
  EXPECT_EQ(fourth.result, "200,300,400") << "the oldest item goes";
  EXPECT_EQ(append("500", 1).result, "500") << "a smaller keep trims several";
  EXPECT_EQ(this->One(this->Get(Family::counter, "cap|u-1")).result, "500");
  // Each append renews the ttl: gone an hour after the last one.
  this->clock_.Advance(1h);
  EXPECT_FALSE(this->One(this->Get(Family::counter, "cap|u-1")).found);
  EXPECT_EQ(append("600", 3).result, "600") << "an expired list starts over";
}

// Appends whose caller does not read the new list (a cap's count, a history
// entry) may be written without reading it (the embedded store's merge
// operands): every later read, in the same batch, later calls and after a
// restart, sees what appends with results would have made.
TYPED_TEST(StateStoreTest, AppendsWithoutAResultReadTheSameInTheBatchLaterAndAfterARestart) {
  auto blind = [](std::string key, const char* item, std::uint32_t keep) {
    return Op{.type = Op::Type::append, .family = Family::counter, .key = std::move(key),
              .value = item, .ttl = 1h, .keep = keep, .want_result = false};
  };
  std::vector<Op> batch = {blind("cap|u-2", "100", 3),
                           blind("cap|u-2", "200", 3),
                           this->Get(Family::counter, "cap|u-2"),
                           blind("cap|u-2", "300", 3),
                           {.type = Op::Type::append, .family = Family::counter, .key = "cap|u-2",
                            .value = "400", .ttl = 1h, .keep = 3},
                           blind("cap|u-2", "500", 3),
                           this->Get(Family::counter, "cap|u-2"),
                           blind("cap|u-3", "7", 2),
                           {.type = Op::Type::erase, .family = Family::counter, .key = "cap|u-3"},
                           this->Get(Family::counter, "cap|u-3")};
  ASSERT_EQ(this->Run(batch), StoreStatus::ok);
  EXPECT_TRUE(batch[2].found);
  EXPECT_EQ(batch[2].result, "100,200") << "the batch's own appends, read back";
  EXPECT_EQ(batch[4].result, "200,300,400") << "an append with a result over them";
  EXPECT_EQ(batch[6].result, "300,400,500");
  EXPECT_FALSE(batch[9].found) << "an erase after an append in the batch wins";
  for (const char* item : {"600", "700"}) this->One(blind("cap|u-2", item, 3));
  EXPECT_EQ(this->One(this->Get(Family::counter, "cap|u-2")).result, "500,600,700");
  this->backend_.Reopen();
  EXPECT_EQ(this->One(this->Get(Family::counter, "cap|u-2")).result, "500,600,700");
  // Expiry as for any append: gone an hour after the last one, then a list
  // starts over.
  this->clock_.Advance(1h);
  EXPECT_FALSE(this->One(this->Get(Family::counter, "cap|u-2")).found);
  this->One(blind("cap|u-2", "800", 3));
  this->clock_.Advance(30min);
  this->One(blind("cap|u-2", "900", 3));
  EXPECT_EQ(this->One(this->Get(Family::counter, "cap|u-2")).result, "800,900");
}

TYPED_TEST(StateStoreTest, TimersComeDueInOrderAndALeaseHidesThemUntilItRunsOut) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               this->clock_.Now().time_since_epoch())
                               .count();
  auto set = [&](const char* id, std::int64_t due, const char* payload) {
    return this->One({.type = Op::Type::timer_set, .family = Family::timer, .key = id,
                      .value = payload, .due_ms = due});
  };
  EXPECT_FALSE(set("later", now + 5000, "L").found);
  set("first", now + 1000, "F");
  set("second", now + 2000, "S");
  EXPECT_TRUE(set("moved", now + 500, "M0").found == false);
  EXPECT_TRUE(set("moved", now + 3000, "M").found) << "setting again moves it";
  EXPECT_TRUE(ClaimDue(this->backend_.store(), 10, 60s).empty()) << "nothing due yet";

  this->clock_.Advance(2s);
  auto due = ClaimDue(this->backend_.store(), 10, 60s);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, "first");
  EXPECT_EQ(due[0].payload, "F");
  EXPECT_EQ(due[1].id, "second");
  EXPECT_TRUE(ClaimDue(this->backend_.store(), 10, 60s).empty()) << "leased: not handed out twice";

  // "first" is done with; "second" is not, so it comes back after its lease.
  EXPECT_TRUE(this->One({.type = Op::Type::erase, .family = Family::timer, .key = "first"}).found);
  this->clock_.Advance(60s);
  due = ClaimDue(this->backend_.store(), 1, 60s);
  ASSERT_EQ(due.size(), 1u) << "the limit holds";
  EXPECT_EQ(due[0].id, "moved") << "the earliest due first";
  due = ClaimDue(this->backend_.store(), 10, 60s);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, "later");
  EXPECT_EQ(due[1].id, "second") << "its lease ran out";
  EXPECT_EQ(this->One({.type = Op::Type::get, .family = Family::timer, .key = "later"}).result, "L");
  // Timers survive a restart of the store.
  this->backend_.Reopen();
  this->clock_.Advance(61s);
  EXPECT_EQ(ClaimDue(this->backend_.store(), 10, 60s).size(), 3u);
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

// A loop turn's batch holds hundreds of requests' ops: each later op sees
// every earlier write of the batch to its key, in its own family only.
TYPED_TEST(StateStoreTest, ABigBatchReadsBackEachOfItsOwnWritesPerFamily) {
  constexpr int kKeys = 300;
  std::vector<Op> ops;
  auto key = [](int i) { return "k" + std::to_string(i); };
  for (int i = 0; i < kKeys; ++i) {
    ops.push_back({.type = Op::Type::put, .family = Family::dedup, .key = key(i),
                   .value = "d" + std::to_string(i), .ttl = 1h});
    ops.push_back({.type = Op::Type::put, .family = Family::suppression, .key = key(i),
                   .value = "s" + std::to_string(i)});
  }
  for (int i = 0; i < kKeys; i += 2) {
    ops.push_back({.type = Op::Type::erase, .family = Family::dedup, .key = key(i)});
  }
  const std::size_t reads = ops.size();
  for (int i = 0; i < kKeys; ++i) {
    ops.push_back(this->Get(Family::dedup, key(i)));
    ops.push_back(this->Claim(Family::suppression, key(i), "other", 1h));
  }
  ops.push_back(this->Get(Family::dedup, "never"));
  ASSERT_EQ(this->Run(ops), StoreStatus::ok);
  for (int i = 0; i < kKeys; ++i) {
    const Op& dedup = ops[reads + 2 * static_cast<std::size_t>(i)];
    const Op& claim = ops[reads + 2 * static_cast<std::size_t>(i) + 1];
    if (i % 2 == 0) {
      EXPECT_FALSE(dedup.found) << key(i) << ": erased earlier in the batch";
    } else {
      EXPECT_TRUE(dedup.found) << key(i);
      EXPECT_EQ(dedup.result, "d" + std::to_string(i));
    }
    EXPECT_TRUE(claim.found) << key(i) << ": the other family's write, not the erase";
    EXPECT_EQ(claim.result, "s" + std::to_string(i));
  }
  EXPECT_FALSE(ops.back().found);
  EXPECT_EQ(this->One(this->Get(Family::dedup, key(1))).result, "d1") << "and after the batch";
  EXPECT_FALSE(this->One(this->Get(Family::dedup, key(0))).found);
}
TYPED_TEST(StateStoreTest, CompareAndSetStoresOnlyOverTheExpectedValue) {
  auto cas = [&](std::string expected, std::string value) {
    return this->One({.type = Op::Type::compare_and_set, .family = Family::status,
                      .key = "c|shop|o-1", .value = std::move(value), .ttl = 1h,
                      .expected = std::move(expected)});
  };
  Op first = cas("", "wait|0");
  EXPECT_TRUE(first.found) << "absent matches an empty expected value";
  EXPECT_EQ(first.result, "");
  Op wrong = cas("", "wait|0");
  EXPECT_FALSE(wrong.found);
  EXPECT_EQ(wrong.result, "wait|0");
  Op moved = cas("wait|0", "done|0");
  EXPECT_TRUE(moved.found);
  EXPECT_EQ(moved.result, "wait|0");
  EXPECT_FALSE(cas("wait|0", "fallback|0").found) << "a second mover loses";
  EXPECT_EQ(this->One(this->Get(Family::status, "c|shop|o-1")).result, "done|0");
  // Expired counts as absent.
  this->clock_.Advance(1h);
  EXPECT_TRUE(cas("", "wait|1").found);
}

TYPED_TEST(StateStoreTest, ConcurrentCompareAndSetsHaveExactlyOneWinner) {
  const int winners = this->RaceForKeys(100, [](int t, int k) {
    return std::vector<Op>{{.type = Op::Type::compare_and_set, .family = Family::status,
                            .key = "step-" + std::to_string(k),
                            .value = "by-" + std::to_string(t), .ttl = 1h}};
  }, [](const Op& op) { return op.found; });
  EXPECT_EQ(winners, 100);
}

TYPED_TEST(StateStoreTest, ConcurrentClaimsOfOneKeyHaveExactlyOneWinner) {
  const int winners = this->RaceForKeys(200, [this](int t, int k) {
    return std::vector<Op>{this->Claim(Family::dedup, "race-" + std::to_string(k),
                                       "thread-" + std::to_string(t), 1h)};
  }, [](const Op& op) { return !op.found; });
  EXPECT_EQ(winners, 200);
}

// Claims as the policy makes them: may be lost in a crash (the embedded
// backend holds them in memory), each thread's in a batch with a read of
// another key, as a worker's turn has them. Still exactly one winner.
TYPED_TEST(StateStoreTest, ConcurrentUnloggedClaimsInBatchesHaveExactlyOneWinner) {
  const int winners = this->RaceForKeys(200, [this](int t, int k) {
    return std::vector<Op>{this->UnloggedClaim("race-" + std::to_string(k),
                                               "thread-" + std::to_string(t)),
                           this->Get(Family::dedup, "race-" + std::to_string(k + 1))};
  }, [](const Op& op) { return !op.found; });
  EXPECT_EQ(winners, 200);
}

// A claim that may be lost in a crash reads like any other record: to later
// ops of its own batch, to other calls, and until a durable write replaces
// it; a clean restart keeps it.
TYPED_TEST(StateStoreTest, AnUnloggedClaimReadsLikeARecordAndADurableWriteReplacesIt) {
  std::vector<Op> batch = {this->UnloggedClaim("shop|o-1", "c|w0"),
                           this->Get(Family::dedup, "shop|o-1"),
                           this->UnloggedClaim("shop|o-1", "c|w1")};
  ASSERT_EQ(this->Run(batch), StoreStatus::ok);
  EXPECT_FALSE(batch[0].found);
  EXPECT_EQ(batch[1].result, "c|w0") << "seen by its own batch";
  EXPECT_TRUE(batch[2].found);
  EXPECT_EQ(batch[2].result, "c|w0");
  Op again = this->One(this->UnloggedClaim("shop|o-1", "c|w2"));
  EXPECT_TRUE(again.found);
  EXPECT_EQ(again.result, "c|w0") << "seen by a later call";
  // The send's record replaces it, in a batch with the next request's claim.
  std::vector<Op> sent = {{.type = Op::Type::put, .family = Family::dedup, .key = "shop|o-1",
                           .value = "s|w0|sms", .ttl = 24h},
                          this->UnloggedClaim("shop|o-2", "c|w0")};
  ASSERT_EQ(this->Run(sent), StoreStatus::ok);
  EXPECT_EQ(this->One(this->Get(Family::dedup, "shop|o-1")).result, "s|w0|sms");
  this->backend_.Reopen();
  EXPECT_EQ(this->One(this->Get(Family::dedup, "shop|o-1")).result, "s|w0|sms");
  EXPECT_EQ(this->One(this->Get(Family::dedup, "shop|o-2")).result, "c|w0")
      << "a clean restart keeps an unlogged claim";
  // It expires like any other record, held or not.
  this->clock_.Advance(24h);
  EXPECT_FALSE(this->One(this->Get(Family::dedup, "shop|o-2")).found);
  EXPECT_FALSE(this->One(this->UnloggedClaim("shop|o-2", "c|w3")).found);
  // Erased: gone, and claimable again.
  EXPECT_TRUE(this->One({.type = Op::Type::erase, .family = Family::dedup, .key = "shop|o-2"})
                  .found);
  EXPECT_FALSE(this->One(this->Get(Family::dedup, "shop|o-2")).found);
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

// The embedded backend holds unlogged claims in memory for a while; older
// ones, and all of them past the limit, go to RocksDB and read the same.
TEST(EmbeddedStore, HeldClaimsGoToRocksDbAfterTheHoldOrPastTheLimit) {
  testing::TempDir dir;
  ManualClock clock(std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000)));
  auto opened = EmbeddedStore::Open(
      {.path = dir.File("s"), .hold_volatile = 2s, .max_held = 3}, clock);
  ASSERT_TRUE(opened) << opened.error();
  EmbeddedStore& store = **opened;
  auto claim = [&](std::string key, std::chrono::milliseconds ttl = 1h) {
    std::vector<Op> ops{{.type = Op::Type::put_if_absent, .family = Family::dedup,
                         .key = std::move(key), .value = "c", .ttl = ttl,
                         .may_lose_on_crash = true}};
    EXPECT_EQ(RunOps(store, ops), StoreStatus::ok);
    return ops[0].found;
  };
  EXPECT_FALSE(claim("a"));
  EXPECT_FALSE(claim("short", 1s));
  EXPECT_EQ(store.HeldForTests(), 2u);
  // Past the hold: the next call writes "a" out; "short" expired while held
  // and is dropped, not written.
  clock.Advance(2s);
  EXPECT_FALSE(claim("b"));
  EXPECT_EQ(store.HeldForTests(), 1u) << "only b is held";
  EXPECT_TRUE(claim("a")) << "a reads the same from RocksDB";
  EXPECT_FALSE(claim("short"));
  // b, short and c held; d makes four, past max_held (3): all of them go at
  // once, whatever their age.
  EXPECT_FALSE(claim("c"));
  EXPECT_FALSE(claim("d"));
  EXPECT_EQ(store.HeldForTests(), 0u);
  for (const char* key : {"a", "b", "c", "d", "short"}) EXPECT_TRUE(claim(key)) << key;
}

// Reads of opt-outs, opt-ins, claims and cap lists go through a filter of
// the keys the family may hold; it is filled again from the family after a
// reopen, so what was written before a restart is still found, in the same
// batch or later ones.
TEST(EmbeddedStore, KeysAreFoundThroughTheirFamiliesFiltersAfterAReopen) {
  testing::TempDir dir;
  auto get = [](Family f, std::string key) {
    return Op{.type = Op::Type::get, .family = f, .key = std::move(key)};
  };
  auto claim = [](std::string key) {
    return Op{.type = Op::Type::put_if_absent, .family = Family::dedup, .key = std::move(key),
              .value = "c", .ttl = 1h};
  };
  {
    auto opened = EmbeddedStore::Open({.path = dir.File("s")}, SystemClock::Instance());
    ASSERT_TRUE(opened) << opened.error();
    (*opened)->WaitForKeyFiltersForTests();
    std::vector<Op> ops = {
        get(Family::suppression, "{t|+40700000001}|sms"),
        {.type = Op::Type::put, .family = Family::suppression, .key = "{t|+40700000001}|sms",
         .value = "stop"},
        get(Family::suppression, "{t|+40700000001}|sms"),
        {.type = Op::Type::put, .family = Family::consent, .key = "{t|a@b.example}|*",
         .value = "form"},
        claim("t|id-1"),
        claim("t|id-1"),
        {.type = Op::Type::append, .family = Family::counter, .key = "{t|+40700000001}|*|all",
         .value = "17", .ttl = 1h, .keep = 3, .want_result = false}};
    ASSERT_EQ(RunOps(**opened, ops), StoreStatus::ok);
    EXPECT_FALSE(ops[0].found);
    EXPECT_TRUE(ops[2].found) << "a write earlier in the batch";
    EXPECT_EQ(ops[2].result, "stop");
    EXPECT_FALSE(ops[4].found);
    EXPECT_TRUE(ops[5].found) << "a claim earlier in the batch";
  }
  auto opened = EmbeddedStore::Open({.path = dir.File("s")}, SystemClock::Instance());
  ASSERT_TRUE(opened) << opened.error();
  // Read through the filters once they hold what the families held (before
  // that every read goes to RocksDB).
  (*opened)->WaitForKeyFiltersForTests();
  std::vector<Op> reads = {get(Family::suppression, "{t|+40700000001}|sms"),
                           get(Family::consent, "{t|a@b.example}|*"),
                           get(Family::suppression, "{t|+40700000002}|sms"),
                           get(Family::consent, "{t|a@b.example}|email"),
                           claim("t|id-1"),
                           claim("t|id-2"),
                           get(Family::counter, "{t|+40700000001}|*|all"),
                           get(Family::counter, "{t|+40700000002}|*|all")};
  ASSERT_EQ(RunOps(**opened, reads), StoreStatus::ok);
  EXPECT_TRUE(reads[0].found);
  EXPECT_EQ(reads[0].result, "stop");
  EXPECT_TRUE(reads[1].found);
  EXPECT_FALSE(reads[2].found);
  EXPECT_FALSE(reads[3].found);
  EXPECT_TRUE(reads[4].found) << "a claim from before the restart";
  EXPECT_FALSE(reads[5].found);
  EXPECT_TRUE(reads[6].found);
  EXPECT_EQ(reads[6].result, "17");
  EXPECT_FALSE(reads[7].found);
}

// Appends written as merge operands fold into the list the same way when
// RocksDB does it (reads across flushed files, compaction) as when the
// batch does.
TEST(EmbeddedStore, AppendsWithoutAResultSurviveFlushesAndCompaction) {
  testing::TempDir dir;
  ManualClock clock(std::chrono::system_clock::now());
  auto opened = EmbeddedStore::Open({.path = dir.File("s")}, clock);
  ASSERT_TRUE(opened) << opened.error();
  EmbeddedStore& store = **opened;
  auto append = [&](const std::string& item) {
    std::vector<Op> ops{{.type = Op::Type::append, .family = Family::status, .key = "h",
                         .value = item, .ttl = 1h, .keep = 4, .want_result = false}};
    ASSERT_EQ(RunOps(store, ops), StoreStatus::ok);
  };
  for (int i = 0; i < 10; ++i) {
    append(std::to_string(i));
    if (i % 3 == 2) store.CompactForTests();  // some operands in files, some in the memtable
  }
  std::vector<Op> read{{.type = Op::Type::get, .family = Family::status, .key = "h"}};
  ASSERT_EQ(RunOps(store, read), StoreStatus::ok);
  EXPECT_EQ(read[0].result, "6,7,8,9");
  store.CompactForTests();
  ASSERT_EQ(RunOps(store, read), StoreStatus::ok);
  EXPECT_EQ(read[0].result, "6,7,8,9");
  // An hour after the last append the list has expired; a new one starts
  // over, whatever the files still hold.
  clock.Advance(1h);
  append("10");
  ASSERT_EQ(RunOps(store, read), StoreStatus::ok);
  EXPECT_EQ(read[0].result, "10");
}

// Flushes and upper-level compactions write uncompressed (the CPU went to
// Snappy for keys it hardly shrinks); the last level stays compressed. Read
// from the OPTIONS file RocksDB writes for the families it opened.
TEST(EmbeddedStore, OnlyTheLastLevelIsCompressed) {
  testing::TempDir dir;
  {
    auto opened = EmbeddedStore::Open({.path = dir.File("s")}, SystemClock::Instance());
    ASSERT_TRUE(opened) << opened.error();
  }
  std::string options_text;
  for (const auto& entry : std::filesystem::directory_iterator(dir.File("s"))) {
    if (entry.path().filename().string().rfind("OPTIONS-", 0) != 0) continue;
    std::ifstream in(entry.path());
    options_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_FALSE(options_text.empty()) << "no OPTIONS file in " << dir.File("s");
  int families = 0;
  std::size_t at = 0;
  while ((at = options_text.find("[CFOptions \"", at)) != std::string::npos) {
    const std::size_t name_end = options_text.find('"', at + 12);
    const std::string name = options_text.substr(at + 12, name_end - at - 12);
    const std::size_t end = options_text.find("\n[", name_end);
    const std::string section = options_text.substr(at, end - at);
    at = name_end;
    if (name == "default") continue;  // not one of the store's families
    ++families;
    EXPECT_NE(section.find("\n  compression=kNoCompression\n"), std::string::npos) << name;
    const bool last_compressed =
        section.find("\n  bottommost_compression=kLZ4Compression\n") != std::string::npos ||
        section.find("\n  bottommost_compression=kSnappyCompression\n") != std::string::npos;
    EXPECT_TRUE(last_compressed) << name;
  }
  EXPECT_EQ(families, static_cast<int>(kFamilyCount));
}

TEST(EmbeddedStore, APathItCannotUseIsAClearError) {
  auto store = EmbeddedStore::Open({.path = "/proc/omnigate-state"}, SystemClock::Instance());
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().find("state.path '/proc/omnigate-state'"), std::string::npos)
      << store.error();
}

// Redis stopped and started again: batches fail as unavailable meanwhile
// (the pipeline then sends nothing unchecked), and the store reconnects and
// reloads its scripts by itself.
TEST(RedisStore, FailsFastWhileRedisIsDownAndRecoversByItself) {
  ManualClock clock(std::chrono::system_clock::now());
  RedisBackend redis(clock);
  auto run = [&](std::vector<Op>& ops) {
    std::promise<StoreStatus> p;
    auto f = p.get_future();
    redis.store().Execute(ops, [&p](StoreStatus s) { p.set_value(s); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  };
  std::vector<Op> ops{{.type = Op::Type::put, .family = Family::suppression, .key = "k",
                       .value = "v"}};
  ASSERT_EQ(run(ops), StoreStatus::ok);
  redis.StopServer();
  ASSERT_TRUE(testing::WaitFor([&] { return !redis.connected(); }, 10s));
  std::vector<Op> during{{.type = Op::Type::get, .family = Family::suppression, .key = "k"}};
  EXPECT_EQ(run(during), StoreStatus::unavailable);
  redis.StartServer();  // empty: no persistence
  ASSERT_TRUE(testing::WaitFor([&] { return redis.connected(); }, 10s));
  std::vector<Op> after{{.type = Op::Type::put_if_absent, .family = Family::dedup, .key = "d",
                         .value = "x", .ttl = 1h}};
  EXPECT_EQ(run(after), StoreStatus::ok);
  EXPECT_FALSE(after[0].found);
}

}  // namespace
}  // namespace omnigate::state
