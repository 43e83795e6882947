#include "gateway/state/key_filter.h"

#include <algorithm>
#include <bit>

#include "common/hash.h"

namespace omnigate::state {

std::uint64_t KeyFilter::HashOf(std::string_view key) { return Hash64(key, ProcessHashSeed()); }

KeyFilter::KeyFilter(std::size_t expected_keys)
    : mask_(std::bit_ceil(std::max<std::size_t>(expected_keys / 4, std::size_t{1} << 14)) - 1),
      words_(new std::atomic<std::uint64_t>[mask_ + 1]()) {}

// Two bits of the word, from hash bits the word's index does not use.
std::uint64_t KeyFilter::Bits(std::uint64_t hash) {
  return (std::uint64_t{1} << ((hash >> 52) & 63)) | (std::uint64_t{1} << ((hash >> 58) & 63));
}

void KeyFilter::AddHash(std::uint64_t h) {
  auto& word = words_[h & mask_];
  const std::uint64_t bits = Bits(h);
  // Release: a reader that finds the bits set sees what was written before.
  if ((word.load(std::memory_order_relaxed) & bits) != bits) {
    word.fetch_or(bits, std::memory_order_release);
  }
}

bool KeyFilter::MayContainHash(std::uint64_t h) const {
  const std::uint64_t bits = Bits(h);
  return (words_[h & mask_].load(std::memory_order_acquire) & bits) == bits;
}

}  // namespace omnigate::state
