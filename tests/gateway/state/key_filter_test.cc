// gateway/state/key_filter.h: never a false "absent", few false "present",
// and adds and lookups on several threads at once.
#include "gateway/state/key_filter.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace omnigate::state
