#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/linear_probe.h"

namespace omnigate::state {

// The embedded store's writes held in memory (one shard's), by key and its
// 64-bit hash. Entries sit in one array and keep their strings when they
// leave: a claim held and dropped a few milliseconds later, for every send,
// reuses the memory of one that left before instead of allocating a node,
// a key and a value. Lookups go through an open-addressing index of
// (hash, entry); removal moves the last entry into the hole and shifts the
// index back (no tombstones). Not thread-safe: the shard's mutex guards it.
class HeldTable {
 public:
  struct Entry {
    std::string key;
    std::string raw;  // as RocksDB would store it: expiry, then the value
    std::uint64_t hash = 0;
    std::int64_t since_ms = 0;
  };

  // The held entry of `key`, or null.
  Entry* Find(std::string_view key, std::uint64_t hash) {
    const std::size_t slot = FindSlot(key, hash);
    return slot == kNone ? nullptr : &entries_[index_[slot].entry];
  }

  // The entry of `key`, added (with an empty `raw`) when it was not held;
  // `added` says which.
  Entry& Insert(std::string_view key, std::uint64_t hash, bool& added) {
    const std::size_t found = FindSlot(key, hash);
    if (found != kNone) {
      added = false;
      return entries_[index_[found].entry];
    }
    if ((size_ + 1) * 2 > index_.size()) Grow();
    if (size_ == entries_.size()) entries_.emplace_back();
    Entry& e = entries_[size_];
    e.key.assign(key);
    e.raw.clear();
    e.hash = hash;
    e.since_ms = 0;
    Place(hash, static_cast<std::uint32_t>(size_));
    ++size_;
    added = true;
    return e;
  }

  // Drops `key`; false when it was not held.
  bool Erase(std::string_view key, std::uint64_t hash) {
    const std::size_t slot = FindSlot(key, hash);
    if (slot == kNone) return false;
    EraseAt(slot);
    return true;
  }

  // Calls `visit(entry)` for every entry; an entry for which it returns
  // true is erased (entries may move during the walk, each is seen once).
  template <class Visit>
  void EraseIf(Visit&& visit) {
    for (std::size_t i = size_; i-- > 0;) {
      if (visit(entries_[i])) EraseAt(FindSlot(entries_[i].key, entries_[i].hash));
    }
  }

  std::size_t size() const { return size_; }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t entry = 0;
    bool used = false;
  };

  // From every bit of the hash (Fibonacci hashing): the store picks a
  // key's shard and stripe by some of its bits, which are then the same
  // for every key of a shard.
  std::size_t Home(std::uint64_t hash) const {
    return static_cast<std::size_t>((hash * 0x9e3779b97f4a7c15ULL) >> shift_);
  }

  std::size_t FindSlot(std::string_view key, std::uint64_t hash) const {
    if (size_ == 0) return kNone;
    for (std::size_t i = Home(hash);; i = (i + 1) & mask_) {
      const Slot& s = index_[i];
      if (!s.used) return kNone;
      if (s.hash == hash && entries_[s.entry].key == key) return i;
    }
  }

  void Place(std::uint64_t hash, std::uint32_t entry) {
    std::size_t i = Home(hash);
    while (index_[i].used) i = (i + 1) & mask_;
    index_[i] = {hash, entry, true};
  }

  void EraseAt(std::size_t slot) {
    const std::uint32_t gone = index_[slot].entry;
    EraseFromProbeRun(
        index_, mask_, slot, [](const Slot& s) { return s.used; },
        [this](const Slot& s) { return Home(s.hash); });
    // The last entry moves into the freed place (its strings swap: the
    // leaving entry's memory stays for the next one).
    const auto last = static_cast<std::uint32_t>(size_ - 1);
    if (gone != last) {
      std::swap(entries_[gone], entries_[last]);
      for (std::size_t i = Home(entries_[gone].hash);; i = (i + 1) & mask_) {
        if (index_[i].used && index_[i].entry == last) {
          index_[i].entry = gone;
          break;
        }
      }
    }
    --size_;
  }

  void Grow() {
    index_.assign(index_.empty() ? 16 : index_.size() * 2, Slot{});
    mask_ = index_.size() - 1;
    shift_ = 64 - std::countr_zero(index_.size());
    for (std::size_t i = 0; i < size_; ++i) {
      Place(entries_[i].hash, static_cast<std::uint32_t>(i));
    }
  }

  std::vector<Entry> entries_;  // the first size_ are held
  std::size_t size_ = 0;
  std::vector<Slot> index_;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace omnigate::state
