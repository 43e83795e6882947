#pragma once

#include <atomic>
#include <chrono>

namespace omnigate {

// Wall-clock time, injectable: policy windows, TTLs and timers read it, and
// tests move it by hours without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  static const SystemClock& Instance() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start) : now_(start.time_since_epoch().count()) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(now_.load(std::memory_order_relaxed)));
  }
  void Advance(std::chrono::system_clock::duration d) {
    now_.fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::chrono::system_clock::rep> now_;
};

}  // namespace omnigate
