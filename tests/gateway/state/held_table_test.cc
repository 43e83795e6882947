#include "gateway/state/held_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace omnigate::state {
namespace {

// Hashes from few bits (long probe runs, keys sharing a hash) so that
// every path of the index is taken.
std::uint64_t WeakHash(const std::string& key) { return std::hash<std::string>()(key) % 37; }

void ExpectSame(HeldTable& t, const std::map<std::string, std::string>& want, int round) {
  ASSERT_EQ(t.size(), want.size()) << "round " << round;
  for (const auto& [k, v] : want) {
    const HeldTable::Entry* e = t.Find(k, WeakHash(k));
    ASSERT_NE(e, nullptr) << k << " at round " << round;
    EXPECT_EQ(e->raw, v);
    EXPECT_EQ(e->key, k);
  }
}

TEST(HeldTable, FindsInsertsAndErasesLikeAMap) {
  HeldTable t;
  bool added = false;
  EXPECT_EQ(t.Find("a", 1), nullptr);
  EXPECT_FALSE(t.Erase("a", 1));
  t.Insert("a", 1, added).raw = "1";
  EXPECT_TRUE(added);
  t.Insert("b", 1, added).raw = "2";  // the same hash, another key
  EXPECT_TRUE(added);
  HeldTable::Entry& again = t.Insert("a", 1, added);
  EXPECT_FALSE(added);
  EXPECT_EQ(again.raw, "1");
  EXPECT_TRUE(t.Erase("a", 1));
  EXPECT_EQ(t.Find("a", 1), nullptr);
  ASSERT_NE(t.Find("b", 1), nullptr);
  EXPECT_EQ(t.Find("b", 1)->raw, "2");
  // A new entry reuses the memory of one that left, and starts empty.
  EXPECT_EQ(t.Insert("c", 2, added).raw, "");
  EXPECT_EQ(t.size(), 2u);
}

TEST(HeldTable, AgreesWithAMapThroughChurnAndSweeps) {
  std::mt19937_64 rng(7);
  HeldTable t;
  std::map<std::string, std::string> want;
  for (int round = 0; round < 60'000; ++round) {
    const std::string key = "k" + std::to_string(rng() % 400);
    const std::uint64_t hash = WeakHash(key);
    if (rng() % 3 == 0) {
      EXPECT_EQ(t.Erase(key, hash), want.erase(key) == 1);
    } else {
      bool added = false;
      HeldTable::Entry& e = t.Insert(key, hash, added);
      EXPECT_EQ(added, want.count(key) == 0);
      e.raw = "v" + std::to_string(round);
      want[key] = e.raw;
    }
    if (round % 5'000 == 4'999) {
      // A sweep erases every key whose value ends in an even digit; each
      // entry is seen once.
      std::map<std::string, int> seen;
      t.EraseIf([&](const HeldTable::Entry& e) {
        ++seen[e.key];
        return (e.raw.back() - '0') % 2 == 0;
      });
      EXPECT_EQ(seen.size(), want.size());
      for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << k;
      for (auto it = want.begin(); it != want.end();) {
        it = (it->second.back() - '0') % 2 == 0 ? want.erase(it) : std::next(it);
      }
    }
    if (round % 997 == 0) ExpectSame(t, want, round);
  }
  ExpectSame(t, want, -1);
}

}  // namespace
}  // namespace omnigate::state
