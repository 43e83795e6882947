#include "common/hash_counts.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>

namespace omnigate {
namespace {

TEST(HashCounts, CountsUpAndDownAndForgetsAKeyAtZero) {
  HashCounts c;
  EXPECT_EQ(c.Get(7), 0);
  c.Add(7, -1);  // nothing to take from: stays absent
  EXPECT_EQ(c.size(), 0u);
  c.Add(7, 1);
  c.Add(7, 1);
  c.Add(8, 1);
  EXPECT_EQ(c.Get(7), 2);
  EXPECT_EQ(c.Get(8), 1);
  EXPECT_EQ(c.size(), 2u);
  c.Add(7, -1);
  EXPECT_EQ(c.Get(7), 1);
  c.Add(7, -1);
  EXPECT_EQ(c.Get(7), 0);
  EXPECT_EQ(c.size(), 1u);
  c.Add(8, -5);  // below zero: removed
  EXPECT_EQ(c.Get(8), 0);
  EXPECT_EQ(c.size(), 0u);
}

// Keys sharing a home slot, and runs that wrap around the end of the table:
// removing any of them leaves every other one reachable.
TEST(HashCounts, RemovalKeepsCollidingKeysReachable) {
  for (std::uint64_t removed = 0; removed < 6; ++removed) {
    HashCounts c;
    // Homes 14, 15, 14, 15, 0, 14 in the first table of 16 slots: the run
    // wraps from slot 15 to slot 0.
    const std::uint64_t keys[] = {14, 15, 30, 31, 16, 46};
    for (const auto k : keys) c.Add(k, static_cast<int>(k % 7) + 1);
    c.Add(keys[removed], -100);
    for (const auto k : keys) {
      EXPECT_EQ(c.Get(k), k == keys[removed] ? 0 : static_cast<int>(k % 7) + 1)
          << "key " << k << " after removing " << keys[removed];
    }
  }
}

// Against std::map over random adds and removals, through several growths.
TEST(HashCounts, AgreesWithAMapThroughChurn) {
  std::mt19937_64 rng(42);
  HashCounts c;
  std::map<std::uint64_t, int> want;
  for (int round = 0; round < 200'000; ++round) {
    // Few distinct low bits: long probe runs.
    const std::uint64_t key = (rng() % 3000) << 3;
    const int delta = (rng() % 3 == 0) ? -1 : 1;
    c.Add(key, delta);
    auto& w = want[key];
    w += delta;
    if (w <= 0) want.erase(key);
    if (round % 997 == 0) {
      ASSERT_EQ(c.size(), want.size()) << "round " << round;
      for (const auto& [k, v] : want) ASSERT_EQ(c.Get(k), v) << "round " << round;
    }
  }
  for (std::uint64_t k = 0; k < (3000u << 3); k += 8) {
    const auto it = want.find(k);
    EXPECT_EQ(c.Get(k), it == want.end() ? 0 : it->second);
  }
}

}  // namespace
}  // namespace omnigate
