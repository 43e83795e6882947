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
  EXPECT_FALSE(t.TakeCommitWithDone(4000));
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

// Each change is taken once; a completion above the first unfinished offset
// is a change too (it travels in the metadata).
TEST(PartitionOffsetTracker, TakeCommitReturnsEachChangeOnce) {
  PartitionOffsetTracker t;
  for (int o = 0; o < 3; ++o) ASSERT_TRUE(t.Track(o));
  ASSERT_TRUE(t.MarkDone(0));
  auto c = t.TakeCommitWithDone(4000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset, 1);
  EXPECT_EQ(c->metadata, "");
  EXPECT_FALSE(t.TakeCommitWithDone(4000));
  ASSERT_TRUE(t.MarkDone(2));
  c = t.TakeCommitWithDone(4000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset, 1);
  EXPECT_EQ(c->metadata, "og1:1:1+1");
  ASSERT_TRUE(t.MarkDone(1));
  c = t.TakeCommitWithDone(4000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset, 3);
  EXPECT_EQ(c->metadata, "");
  EXPECT_FALSE(t.TakeCommitWithDone(4000));
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

// The done offsets above the first unfinished one travel in the commit's
// metadata, so that a restart skips them instead of repeating them.
TEST(PartitionOffsetTracker, CommitCarriesTheDoneOffsetsAboveTheFirstUnfinished) {
  PartitionOffsetTracker t;
  for (int o = 100; o < 110; ++o) ASSERT_TRUE(t.Track(o));
  EXPECT_FALSE(t.TakeCommitWithDone(4000)) << "nothing done yet";
  for (int o : {100, 101, 103, 104, 105, 108}) ASSERT_TRUE(t.MarkDone(o));
  auto c = t.TakeCommitWithDone(4000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset, 102);
  EXPECT_EQ(c->metadata, "og1:102:1+3,2+1");
  EXPECT_EQ(DecodeDoneRanges(c->metadata, 102),
            (std::vector<std::pair<std::int64_t, std::int64_t>>{{103, 106}, {108, 109}}));
  EXPECT_FALSE(t.TakeCommitWithDone(4000)) << "unchanged since the last commit";
  ASSERT_TRUE(t.TakeCommitWithDone(4000, /*force=*/true));
  for (int o : {102, 106, 107, 109}) ASSERT_TRUE(t.MarkDone(o));
  c = t.TakeCommitWithDone(4000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->offset, 110);
  EXPECT_EQ(c->metadata, "");
}

TEST(PartitionOffsetTracker, DoneRangesThatDoNotFitAreLeftOutNotGuessed) {
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  for (std::int64_t o = 1; o < 2000; o += 2) ranges.emplace_back(o, o + 1);
  const std::string m = EncodeDoneRanges(0, ranges, 100);
  EXPECT_LE(m.size(), 100u);
  const auto decoded = DecodeDoneRanges(m, 0);
  ASSERT_FALSE(decoded.empty());
  EXPECT_LT(decoded.size(), ranges.size());
  // What is kept is exact: a prefix of the real ranges.
  EXPECT_TRUE(std::equal(decoded.begin(), decoded.end(), ranges.begin()));
}

TEST(PartitionOffsetTracker, ForeignOrStaleMetadataSkipsNothing) {
  EXPECT_TRUE(DecodeDoneRanges("", 5).empty());
  EXPECT_TRUE(DecodeDoneRanges("some other consumer's metadata", 5).empty());
  // Committed with another offset: it describes another position.
  EXPECT_TRUE(DecodeDoneRanges("og1:4:1+2", 5).empty());
  EXPECT_TRUE(DecodeDoneRanges("og1:5:1+", 5).empty());
  EXPECT_TRUE(DecodeDoneRanges("og1:5:1+0", 5).empty());
  EXPECT_TRUE(DecodeDoneRanges("og1:5:-1+2", 5).empty());
  EXPECT_TRUE(DecodeDoneRanges("og1:5:99999999999999999999+1", 5).empty());
  EXPECT_EQ(DecodeDoneRanges("og1:5:0+2", 5),
            (std::vector<std::pair<std::int64_t, std::int64_t>>{{5, 7}}));
}

}  // namespace
}  // namespace omnigate::queue
