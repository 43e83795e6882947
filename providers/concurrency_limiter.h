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

  // Runs `task(true)` now when a slot is free, else queues it. Whoever the
  // task begins must call Release() exactly once when it is finished. A
  // queued task that is abandoned runs as `task(false)` instead (and takes
  // no slot).
  using Task = std::function<void(bool run)>;
  void Run(bool bulk, Task task);
  void Release();
  // Calls every queued task with false (shutdown: nothing new goes on the
  // wire). Returns how many there were.
  std::size_t AbandonQueued();

  std::size_t active() const { return active_; }
  std::size_t queued() const { return transactional_.size() + bulk_.size(); }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::size_t active_ = 0;
  std::deque<Task> transactional_;
  std::deque<Task> bulk_;
};

}  // namespace omnigate::providers
