#include "queue/offset_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace omnigate::queue {
namespace {

TEST(PartitionOffsetTracker, NothingCommittableBeforeFirstCompletion) {
  PartitionOffsetTracker t;
  EXPECT_EQ(t.committable(), -1);
  EXPECT_TRUE(t.Track(10));
  EXPECT_EQ(t.committable(), -1);
  EXPECT_EQ(t.TakeCommit(), -1);
  EXPECT_EQ(t.pending(), 1u);
}

TEST(PartitionOffsetTracker, InOrderCompletionAdvancesOneByOne) {
  PartitionOffsetTracker t;
  for (int o = 0; o < 5; ++o) ASSERT_TRUE(t.Track(o));
  EXPECT_TRUE(t.MarkDone(0));
  EXPECT_EQ(t.committable(), 1);
  EXPECT_TRUE(t.MarkDone(1));
  EXPECT_EQ(t.committable(), 2);
  EXPECT_EQ(t.pending(), 3u);
}

TEST(PartitionOffsetTracker, OutOfOrderCompletionHoldsAtFirstPendingOffset) {
  PartitionOffsetTracker t;
  for (int o = 100; o < 105; ++o) ASSERT_TRUE(t.Track(o));
  EXPECT_TRUE(t.MarkDone(103));
  EXPECT_TRUE(t.MarkDone(101));
  EXPECT_EQ(t.committable(), -1) << "100 is still pending";
  EXPECT_TRUE(t.MarkDone(100));
  EXPECT_EQ(t.committable(), 102) << "102 is still pending";
  EXPECT_TRUE(t.MarkDone(104));
  EXPECT_EQ(t.committable(), 102);
  EXPECT_TRUE(t.MarkDone(102));
  EXPECT_EQ(t.committable(), 105);
  EXPECT_EQ(t.pending(), 0u);
}

TEST(PartitionOffsetTracker, GapsInOffsetsAreFine) {
  PartitionOffsetTracker t;
  ASSERT_TRUE(t.Track(3));
  ASSERT_TRUE(t.Track(7));
  ASSERT_TRUE(t.Track(8));
  EXPECT_TRUE(t.MarkDone(7));
  EXPECT_EQ(t.committable(), -1);
  EXPECT_TRUE(t.MarkDone(3));
  EXPECT_EQ(t.committable(), 8);
}

TEST(PartitionOffsetTracker, RejectsNonIncreasingTrackAndUnknownOrRepeatedDone) {
  PartitionOffsetTracker t;
  ASSERT_TRUE(t.Track(5));
  EXPECT_FALSE(t.Track(5));
  EXPECT_FALSE(t.Track(4));
  EXPECT_FALSE(t.Track(-1));
  EXPECT_FALSE(t.MarkDone(6));
  EXPECT_TRUE(t.MarkDone(5));
  EXPECT_FALSE(t.MarkDone(5));
  EXPECT_EQ(t.pending(), 0u);
}

TEST(PartitionOffsetTracker, TakeCommitReturnsEachAdvanceOnce) {
  PartitionOffsetTracker t;
  for (int o = 0; o < 3; ++o) ASSERT_TRUE(t.Track(o));
  ASSERT_TRUE(t.MarkDone(0));
  EXPECT_EQ(t.TakeCommit(), 1);
  EXPECT_EQ(t.TakeCommit(), -1);
  ASSERT_TRUE(t.MarkDone(2));
  EXPECT_EQ(t.TakeCommit(), -1);
  ASSERT_TRUE(t.MarkDone(1));
  EXPECT_EQ(t.TakeCommit(), 3);
}

// Property: under any completion order, the committable offset never passes a
// pending offset, and ends one past the last offset.
TEST(PartitionOffsetTracker, RandomCompletionOrderNeverCommitsPastPending) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    PartitionOffsetTracker t;
    std::vector<std::int64_t> offsets(200);
    std::iota(offsets.begin(), offsets.end(), 1000);
    for (auto o : offsets) ASSERT_TRUE(t.Track(o));
    std::vector<std::int64_t> order = offsets;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<bool> done(offsets.size(), false);
    for (auto o : order) {
      ASSERT_TRUE(t.MarkDone(o));
      done[static_cast<std::size_t>(o - 1000)] = true;
      const auto first_pending = std::find(done.begin(), done.end(), false);
      const std::int64_t expected =
          first_pending == done.begin() ? -1 : 1000 + (first_pending - done.begin());
      ASSERT_EQ(t.committable(), expected);
    }
    EXPECT_EQ(t.committable(), 1200);
  }
}

}  // namespace
}  // namespace omnigate::queue
