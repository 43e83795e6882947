#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/linear_probe.h"

namespace omnigate {

// Counts by 64-bit key, for keys that are hashes already (their low bits are
// as good as any). Open addressing with linear probing in one array, no node
// per key: a worker adds and drops a count for every send it checks against a
// frequency cap. A key whose count falls to zero is removed (backward-shift
// deletion: no tombstones, so lookups never slow down with churn).
// Not thread-safe.
class HashCounts {
 public:
  // The count of `key`; 0 when it has none.
  int Get(std::uint64_t key) const {
    if (size_ == 0) return 0;
    for (std::size_t i = Home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.count == 0) return 0;
      if (s.key == key) return s.count;
    }
  }

  // Adds `delta` (positive or negative) to the count of `key`; a count at or
  // below zero removes the key.
  void Add(std::uint64_t key, int delta) {
    if (delta > 0 && (size_ + 1) * 2 > slots_.size()) Grow();
    if (slots_.empty()) return;
    std::size_t i = Home(key);
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.count == 0) {
        if (delta <= 0) return;  // nothing to take from
        s = {key, delta};
        ++size_;
        return;
      }
      if (s.key == key) break;
    }
    slots_[i].count += delta;
    if (slots_[i].count > 0) return;
    Remove(i);
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key = 0;
    int count = 0;  // 0: empty
  };

  std::size_t Home(std::uint64_t key) const { return static_cast<std::size_t>(key) & mask_; }

  void Remove(std::size_t slot) {
    EraseFromProbeRun(
        slots_, mask_, slot, [](const Slot& s) { return s.count != 0; },
        [this](const Slot& s) { return Home(s.key); });
    --size_;
  }

  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& s : old) {
      if (s.count != 0) Add(s.key, s.count);
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace omnigate
