#include "common/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

namespace omnigate {
namespace {

// Keys shaped like the state store's: a family's prefix, a tenant, then an id
// or an address, most of each shared with the next key.
std::vector<std::string> StoreLikeKeys(std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string k = "acme";
    k.push_back('\0');
    k += (i % 2 == 0) ? "req-" + std::to_string(1'000'000 + i) : "+4070" + std::to_string(9'000'000 + i);
    keys.push_back(std::move(k));
  }
  return keys;
}

TEST(Hash64, IsAFunctionOfTheBytesAndTheSeed) {
  EXPECT_EQ(Hash64("acme\0req-1", 7), Hash64("acme\0req-1", 7));
  EXPECT_NE(Hash64("acme\0req-1", 7), Hash64("acme\0req-1", 8));
  // Length counts: a trailing zero byte is not the same key.
  EXPECT_NE(Hash64(std::string_view("a", 1), 7), Hash64(std::string_view("a\0", 2), 7));
  EXPECT_NE(Hash64("", 7), Hash64(std::string_view("\0", 1), 7));
}

TEST(Hash64, EveryInputBitMovesAboutHalfTheOutputBits) {
  // Every length up to 70 covers each path: 0-3, 4-7, 8-16 bytes, and blocks
  // of 16 with a tail that overlaps the last block.
  for (std::size_t len = 1; len <= 70; ++len) {
    std::string s(len, '\0');
    for (std::size_t i = 0; i < len; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
    const std::uint64_t base = Hash64(s, 42);
    double flipped = 0;
    for (std::size_t byte = 0; byte < len; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = s;
        t[byte] = static_cast<char>(t[byte] ^ (1 << bit));
        const int changed = std::popcount(base ^ Hash64(t, 42));
        ASSERT_GT(changed, 0) << "length " << len << ", byte " << byte << ", bit " << bit;
        flipped += changed;
      }
    }
    const double mean = flipped / static_cast<double>(len * 8);
    EXPECT_GT(mean, 26.0) << "length " << len;
    EXPECT_LT(mean, 38.0) << "length " << len;
  }
}

TEST(Hash64, SpreadsKeysWithLongCommonPrefixesEvenlyInLowAndHighBits) {
  const auto keys = StoreLikeKeys(200'000);
  std::unordered_set<std::uint64_t> seen;
  constexpr std::size_t kBuckets = 1024;
  std::vector<int> low(kBuckets), high(kBuckets);
  for (const auto& k : keys) {
    const std::uint64_t h = Hash64(k, ProcessHashSeed());
    seen.insert(h);
    ++low[h % kBuckets];
    ++high[h >> 54];
  }
  EXPECT_EQ(seen.size(), keys.size()) << "64-bit collisions";
  // About 195 keys a bucket, sigma about 14: no bucket beyond 6 sigma.
  const double expected = static_cast<double>(keys.size()) / kBuckets;
  const double sigma = std::sqrt(expected);
  for (const auto* counts : {&low, &high}) {
    const auto [lo, hi] = std::minmax_element(counts->begin(), counts->end());
    EXPECT_GT(*lo, expected - 6 * sigma);
    EXPECT_LT(*hi, expected + 6 * sigma);
  }
}

TEST(StringHash, FindsStdStringKeysByStringViewWithoutACopy) {
  std::unordered_set<std::string, StringHash, std::equal_to<>> set;
  for (const auto& k : StoreLikeKeys(1000)) set.insert(k);
  const std::string probe = StoreLikeKeys(1000)[123];
  EXPECT_NE(set.find(std::string_view(probe)), set.end());
  EXPECT_EQ(set.find(std::string_view("acme")), set.end());
  EXPECT_EQ(StringHash{}(std::string_view(probe)), StringHash{}(probe));
}

}  // namespace
}  // namespace omnigate
