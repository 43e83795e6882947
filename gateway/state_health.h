#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace omnigate::gateway {

// Whether the state store answers, as the workers see it: each worker reports
// the outcome of its store calls; the pipeline pauses consumption while any
// worker's store is unavailable and /readyz says why. Thread-safe.
class StateHealth {
 public:
  StateHealth(std::string backend, std::size_t workers)
      : backend_(std::move(backend)), workers_(workers), down_(std::make_unique<Slot[]>(workers)) {}

  // Worker `i`'s last store call answered (ok) or not.
  void Report(std::size_t i, bool ok) {
    auto& slot = down_[i];
    if (ok) {
      if (slot.since_ns.load(std::memory_order_relaxed) != 0) {
        slot.since_ns.store(0, std::memory_order_relaxed);
      }
      return;
    }
    if (slot.since_ns.load(std::memory_order_relaxed) == 0) {
      slot.since_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                          std::memory_order_relaxed);
    }
  }

  // Since when (steady clock) the earliest worker has found the store
  // unavailable; nullopt-like zero when every worker's last call answered.
  std::int64_t down_since_ns() const {
    std::int64_t earliest = 0;
    for (std::size_t i = 0; i < workers_; ++i) {
      const auto since = down_[i].since_ns.load(std::memory_order_relaxed);
      if (since != 0 && (earliest == 0 || since < earliest)) earliest = since;
    }
    return earliest;
  }
  bool down() const { return down_since_ns() != 0; }
  bool down(std::size_t i) const { return down_[i].since_ns.load(std::memory_order_relaxed) != 0; }
  const std::string& backend() const { return backend_; }

 private:
  struct Slot {
    alignas(64) std::atomic<std::int64_t> since_ns{0};  // one cache line per worker
  };
  std::string backend_;
  std::size_t workers_;
  std::unique_ptr<Slot[]> down_;
};

}  // namespace omnigate::gateway
