#pragma once

#include <cstddef>
#include <utility>

namespace omnigate {

// Removal from an open-addressing table with linear probing, without
// tombstones: empties slot `hole`, then walks the rest of its probe run and
// moves back each entry whose home is not between the hole and itself
// (cyclically), so that every entry stays reachable from its home without
// crossing an empty slot. `slots` has a power-of-two size (`mask` = size-1)
// and a default-constructed slot is empty; `used(slot)` says whether a slot
// holds an entry and `home(slot)` where its probe starts.
template <class Slots, class Used, class Home>
void EraseFromProbeRun(Slots& slots, std::size_t mask, std::size_t hole, Used used, Home home) {
  slots[hole] = {};
  for (std::size_t i = (hole + 1) & mask; used(slots[i]); i = (i + 1) & mask) {
    const std::size_t h = home(slots[i]);
    const bool stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
    if (stays) continue;
    slots[hole] = std::move(slots[i]);
    slots[i] = {};
    hole = i;
  }
}

}  // namespace omnigate
