#pragma once

#include <cstddef>
#include <deque>
#include <functional>

namespace omnigate::providers {

// Bounds the sends one adapter has on the wire and queues the rest, serving
// the transactional lane before the bulk lane (DESIGN.md §3). Not
// thread-safe: owned by one adapter on one worker thread.
class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  // Runs `start` now when a slot is free, else queues it. Whoever `start`
  // begins must call Release() exactly once when it is finished.
  void Run(bool bulk, std::function<void()> start);
  void Release();

  std::size_t active() const { return active_; }
  std::size_t queued() const { return transactional_.size() + bulk_.size(); }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::size_t active_ = 0;
  std::deque<std::function<void()>> transactional_;
  std::deque<std::function<void()>> bulk_;
};

}  // namespace omnigate::providers
