#include "gateway/state/key_filter.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <mutex>

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

namespace omnigate::state {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

}  // namespace

ExpiringKeyFilter::ExpiringKeyFilter(std::size_t first_capacity, std::shared_mutex& mu) : mu_(mu) {
  generations_.push_back(std::make_unique<Generation>(first_capacity));
}

void ExpiringKeyFilter::AddHash(std::uint64_t hash, std::int64_t expires_ms) {
  Generation& g = *generations_.back();
  g.filter.AddHash(hash);
  g.added.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t expires = expires_ms == 0 ? kNever : expires_ms;
  std::int64_t seen = g.max_expires_ms.load(std::memory_order_relaxed);
  while (seen < expires &&
         !g.max_expires_ms.compare_exchange_weak(seen, expires, std::memory_order_relaxed)) {
  }
}

bool ExpiringKeyFilter::MayContainHash(std::uint64_t hash) const {
  if (!ready()) return true;
  for (const auto& g : generations_) {
    if (g->filter.MayContainHash(hash)) return true;
  }
  return false;
}

void ExpiringKeyFilter::Maintain(std::int64_t now_ms) {
  {
    std::shared_lock lock(mu_);
    const bool full = generations_.back()->added.load(std::memory_order_relaxed) >
                      generations_.back()->capacity;
    bool expired = false;
    for (std::size_t i = 0; i + 1 < generations_.size(); ++i) {
      expired = expired || generations_[i]->max_expires_ms.load(std::memory_order_relaxed) <= now_ms;
    }
    if (!expired && !(full && generations_.size() < kMaxGenerations)) return;
  }
  std::unique_lock lock(mu_);
  // Writers add under the shared lock: with it exclusive, every add made so
  // far is in its generation's expiry.
  Generation* const last = generations_.back().get();
  std::erase_if(generations_, [&](const std::unique_ptr<Generation>& g) {
    return g.get() != last && g->max_expires_ms.load(std::memory_order_relaxed) <= now_ms;
  });
  Generation& newest = *generations_.back();
  if (newest.added.load(std::memory_order_relaxed) > newest.capacity &&
      generations_.size() < kMaxGenerations) {
    generations_.push_back(std::make_unique<Generation>(newest.capacity * 2));
  }
}

std::size_t ExpiringKeyFilter::generations() const {
  std::shared_lock lock(mu_);
  return generations_.size();
}

std::size_t ExpiringKeyFilter::bytes() const {
  std::shared_lock lock(mu_);
  std::size_t total = 0;
  for (const auto& g : generations_) total += g->filter.bytes();
  return total;
}

}  // namespace omnigate::state
