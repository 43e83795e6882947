#include "gateway/state/turn_batcher.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/state/embedded_store.h"
#include "tests/support/wait.h"

namespace omnigate::state {
namespace {

Op Claim(std::string key, std::string value) {
  return {.type = Op::Type::put_if_absent, .family = Family::dedup, .key = std::move(key),
          .value = std::move(value)};
}

Op Append(std::string key, std::string item) {
  return {.type = Op::Type::append, .family = Family::counter, .key = std::move(key),
          .value = std::move(item), .keep = 10};
}

class TurnBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = EmbeddedStore::Open({.path = dir_.File("state")}, SystemClock::Instance());
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s).value();
  }
  ::omnigate::testing::TempDir dir_;
  std::unique_ptr<EmbeddedStore> store_;
  boost::asio::io_context io_;
};

// Three requests checked in one turn reach the store as one call, and each
// gets its own results, in the order the calls were made: the second claim
// of an id sees the first, and a cap list sees both sends.
TEST_F(TurnBatcherTest, OneTurnsCallsAreOneStoreCallWithTheirOwnResults) {
  TurnBatcher batcher(io_, *store_);
  std::vector<Op> a = {Claim("t|id-1", "c|a"), Append("cap", "100")};
  std::vector<Op> b = {Claim("t|id-1", "c|b"), Append("cap", "200")};
  std::vector<Op> c = {Claim("t|id-2", "c|c")};
  std::vector<std::string> order;
  batcher.Execute(a, [&](StoreStatus s) { order.push_back(s == StoreStatus::ok ? "a" : "a!"); });
  batcher.Execute(b, [&](StoreStatus s) { order.push_back(s == StoreStatus::ok ? "b" : "b!"); });
  batcher.Execute(c, [&](StoreStatus s) { order.push_back(s == StoreStatus::ok ? "c" : "c!"); });
  EXPECT_TRUE(order.empty()) << "nothing runs before the turn ends";
  io_.run();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(batcher.store_calls(), 1u);
  EXPECT_FALSE(a[0].found);
  EXPECT_TRUE(b[0].found) << "the second claim of id-1 in the same batch";
  EXPECT_EQ(b[0].result, "c|a");
  EXPECT_FALSE(c[0].found);
  EXPECT_EQ(a[1].result, "100");
  EXPECT_EQ(b[1].result, "100,200");
  EXPECT_EQ(a[0].key, "t|id-1") << "the ops are handed back intact";
  EXPECT_EQ(b[0].value, "c|b");

  std::vector<Op> read = {Op{.type = Op::Type::get, .family = Family::counter, .key = "cap"}};
  bool done = false;
  batcher.Execute(read, [&](StoreStatus) { done = true; });
  io_.restart();
  io_.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(read[0].result, "100,200") << "both appends were written";
}

// A done that calls Execute (the send after a check) starts the next batch.
TEST_F(TurnBatcherTest, ACallFromADoneGoesIntoTheNextBatch) {
  TurnBatcher batcher(io_, *store_);
  std::vector<Op> check = {Claim("t|id-9", "c|x")};
  std::vector<Op> record = {Append("cap-9", "1")};
  bool recorded = false;
  batcher.Execute(check, [&](StoreStatus) {
    batcher.Execute(record, [&](StoreStatus s) { recorded = s == StoreStatus::ok; });
  });
  io_.run();
  EXPECT_TRUE(recorded);
  EXPECT_EQ(batcher.store_calls(), 2u);
}

// The store's refusal reaches every call of the batch.
TEST_F(TurnBatcherTest, AFailedBatchFailsEveryCallInIt) {
  class Refusing final : public StateStore {
   public:
    void Execute(std::span<Op>, Done done) override { done(StoreStatus::unavailable); }
    void ClaimDueTimers(std::size_t, std::chrono::milliseconds, TimersDone done) override {
      done(StoreStatus::unavailable, {});
    }
    std::string_view backend() const override { return "refusing"; }
  } refusing;
  TurnBatcher batcher(io_, refusing);
  std::vector<Op> a = {Claim("k1", "v")};
  std::vector<Op> b = {Claim("k2", "v")};
  int unavailable = 0;
  for (auto* ops : {&a, &b}) {
    batcher.Execute(*ops, [&](StoreStatus s) { unavailable += s == StoreStatus::unavailable; });
  }
  io_.run();
  EXPECT_EQ(unavailable, 2);
  EXPECT_EQ(batcher.backend(), "refusing");
}

// A store that only has Execute (as the redis one) gets a turn's calls as
// one contiguous batch, and each caller finds its own ops' results.
TEST_F(TurnBatcherTest, AStoreWithoutItsOwnExecutePartsStillAnswersEachCallInPlace) {
  class Numbering final : public StateStore {
   public:
    void Execute(std::span<Op> ops, Done done) override {
      ++calls;
      for (Op& op : ops) op.result = op.key + "#" + std::to_string(seen++);
      done(StoreStatus::ok);
    }
    void ClaimDueTimers(std::size_t, std::chrono::milliseconds, TimersDone done) override {
      done(StoreStatus::ok, {});
    }
    std::string_view backend() const override { return "numbering"; }
    int calls = 0;
    int seen = 0;
  } numbering;
  TurnBatcher batcher(io_, numbering);
  std::vector<Op> a = {Claim("a1", "v"), Claim("a2", "v")};
  std::vector<Op> b = {Claim("b1", "v")};
  int done = 0;
  for (auto* ops : {&a, &b}) {
    batcher.Execute(*ops, [&](StoreStatus s) { done += s == StoreStatus::ok; });
  }
  io_.run();
  EXPECT_EQ(done, 2);
  EXPECT_EQ(numbering.calls, 1);
  EXPECT_EQ(a[0].result, "a1#0");
  EXPECT_EQ(a[1].result, "a2#1");
  EXPECT_EQ(b[0].result, "b1#2");
  EXPECT_EQ(a[0].value, "v") << "the ops come back whole";
}

}  // namespace
}  // namespace omnigate::state
