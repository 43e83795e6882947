// gateway/state/key_filter.h: never a false "absent", few false "present",
// and adds and lookups on several threads at once.
#include "gateway/state/key_filter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace omnigate::state {
namespace {

std::string Key(int i) { return "{tenant|+4079" + std::to_string(1000000 + i) + "}|sms"; }

TEST(KeyFilter, EveryAddedKeyIsPresentAndFewOthersAre) {
  constexpr int kKeys = 100'000;
  KeyFilter filter(kKeys);
  for (int i = 0; i < kKeys; ++i) filter.Add(Key(i));
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(filter.MayContain(Key(i))) << Key(i);
  int present = 0;
  for (int i = kKeys; i < 2 * kKeys; ++i) present += filter.MayContain(Key(i)) ? 1 : 0;
  // 16 bits a key, two in one word: about 1.4 % in theory.
  EXPECT_LT(present, kKeys * 3 / 100);
  EXPECT_GT(present, 0) << "a filter that says absent to everything would pass the rest";
}

TEST(KeyFilter, AnEmptyFilterHoldsNothingAndHasItsFloorSize) {
  const KeyFilter filter(0);
  EXPECT_EQ(filter.bytes(), 128u * 1024u);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(filter.MayContain(Key(i)));
}

TEST(KeyFilter, AddsOnOneThreadAreSeenByLookupsOnOthers) {
  KeyFilter filter(1000);
  std::atomic<int> added{0};
  std::atomic<int> missed{0};
  std::thread writer([&] {
    for (int i = 0; i < 20'000; ++i) {
      filter.Add(Key(i));
      added.store(i + 1, std::memory_order_release);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (added.load(std::memory_order_acquire) < 20'000) {
        const int n = added.load(std::memory_order_acquire);
        // Every key added before `n` was published must be present.
        for (int i = std::max(0, n - 64); i < n; ++i) {
          if (!filter.MayContain(Key(i))) missed.fetch_add(1);
        }
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(missed.load(), 0);
}

std::uint64_t H(int i) { return KeyFilter::HashOf(Key(i)); }

TEST(ExpiringKeyFilter, EveryKeyMayBeThereUntilItIsReady) {
  std::shared_mutex mu;
  ExpiringKeyFilter filter(1000, mu);
  std::shared_lock lock(mu);
  EXPECT_TRUE(filter.MayContainHash(H(1)));
  filter.AddHash(H(2), 0);
  filter.MarkReady();
  EXPECT_TRUE(filter.MayContainHash(H(2)));
  int present = 0;
  for (int i = 100; i < 1100; ++i) present += filter.MayContainHash(H(i)) ? 1 : 0;
  EXPECT_LT(present, 30) << "false positives";
}

// Keys re-added with later expiries, the clock moving on, Maintain dropping
// and adding generations: a key whose last add has not expired is always
// found.
TEST(ExpiringKeyFilter, LiveKeysAreAlwaysFound) {
  std::shared_mutex mu;
  ExpiringKeyFilter filter(2000, mu);  // small: many generations
  filter.MarkReady();
  std::mt19937 rng(7);
  std::map<int, std::int64_t> expires;  // key -> its last add's expiry
  std::int64_t now = 1'000'000;
  std::size_t most_generations = 0;
  for (int round = 0; round < 60; ++round) {
    {
      std::shared_lock lock(mu);
      for (int n = 0; n < 1000; ++n) {
        // Keys from a sliding range, some of them again.
        const int k = round * 700 + static_cast<int>(rng() % 1000);
        const std::int64_t e = now + 1000 + static_cast<std::int64_t>(rng() % 9000);
        filter.AddHash(H(k), e);
        expires[k] = e;
      }
    }
    now += 1000;
    filter.Maintain(now);
    most_generations = std::max(most_generations, filter.generations());
    std::shared_lock lock(mu);
    for (const auto& [k, e] : expires) {
      if (e > now) {
        ASSERT_TRUE(filter.MayContainHash(H(k))) << "live key " << k << " at round " << round;
      }
    }
  }
  EXPECT_GT(most_generations, 2u) << "full generations were followed by new ones";
  EXPECT_LE(most_generations, 8u);
}

TEST(ExpiringKeyFilter, AGenerationGoesOnceAllItsKeysHaveExpired) {
  std::shared_mutex mu;
  ExpiringKeyFilter filter(1000, mu);
  filter.MarkReady();
  {
    std::shared_lock lock(mu);
    for (int i = 0; i < 1500; ++i) filter.AddHash(H(i), 2000 + i);  // past its capacity
  }
  filter.Maintain(1000);
  ASSERT_EQ(filter.generations(), 2u);
  {
    std::shared_lock lock(mu);
    filter.AddHash(H(7), 9000);  // again, later: in the new generation
  }
  filter.Maintain(3498);  // key 1499 (expiry 3499) still live
  EXPECT_EQ(filter.generations(), 2u);
  filter.Maintain(3499);
  EXPECT_EQ(filter.generations(), 1u);
  std::shared_lock lock(mu);
  EXPECT_TRUE(filter.MayContainHash(H(7)));
  int present = 0;
  for (int i = 100; i < 1500; ++i) present += filter.MayContainHash(H(i)) ? 1 : 0;
  EXPECT_LT(present, 40) << "the expired keys went with their generation";
}

TEST(ExpiringKeyFilter, KeysThatNeverExpireKeepTheirGeneration) {
  std::shared_mutex mu;
  ExpiringKeyFilter filter(100, mu);
  filter.MarkReady();
  {
    std::shared_lock lock(mu);
    filter.AddHash(H(1), 0);
    for (int i = 2; i < 300; ++i) filter.AddHash(H(i), 5000);
  }
  filter.Maintain(1000);  // full: a second generation
  EXPECT_EQ(filter.generations(), 2u);
  filter.Maintain(1'000'000'000);
  EXPECT_EQ(filter.generations(), 2u) << "the first holds a key without expiry";
  std::shared_lock lock(mu);
  EXPECT_TRUE(filter.MayContainHash(H(1)));
}

// Adds and lookups under the shared lock on two threads while a third runs
// the upkeep (TSan runs this too).
TEST(ExpiringKeyFilter, AddsLookupsAndUpkeepRunTogether) {
  std::shared_mutex mu;
  ExpiringKeyFilter filter(500, mu);
  filter.MarkReady();
  std::atomic<int> added{0};
  std::atomic<bool> done{false};
  std::atomic<int> missed{0};
  std::thread writer([&] {
    for (int i = 0; i < 20'000; ++i) {
      std::shared_lock lock(mu);
      filter.AddHash(H(i), 0);
      added.store(i + 1, std::memory_order_release);
    }
    done = true;
  });
  std::thread reader([&] {
    while (!done) {
      const int n = added.load(std::memory_order_acquire);
      std::shared_lock lock(mu);
      for (int i = std::max(0, n - 64); i < n; ++i) {
        if (!filter.MayContainHash(H(i))) missed.fetch_add(1);
      }
    }
  });
  std::int64_t now = 0;
  while (!done) filter.Maintain(++now);
  writer.join();
  reader.join();
  EXPECT_EQ(missed.load(), 0);
  // However the threads interleaved, 20,000 keys overfill the first
  // generation: the upkeep adds another, and every key is still found.
  filter.Maintain(++now);
  EXPECT_GT(filter.generations(), 1u);
  std::shared_lock lock(mu);
  for (int i = 0; i < 20'000; ++i) ASSERT_TRUE(filter.MayContainHash(H(i))) << i;
}

}  // namespace
}  // namespace omnigate::state
