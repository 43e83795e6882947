#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>

namespace omnigate::providers {

class ConcurrencyLimiter;

// One taken place under a ConcurrencyLimiter. Copies share it (callbacks
// are std::function, so they must be copyable); it is freed by Release() on
// any copy or when the last copy is dropped, and freeing may start the next
// queued task on the spot. A slot may outlive its limiter (a callback still
// held by a store at shutdown): it then frees nothing.
class LimiterSlot {
 public:
  LimiterSlot() = default;

  void Release();
  bool held() const;

 private:
  friend class ConcurrencyLimiter;
  struct Core;
  struct Hold;
  explicit LimiterSlot(const std::shared_ptr<Core>& core);
  std::shared_ptr<Hold> hold_;
};

// Bounds the sends one adapter has on the wire and queues the rest, serving
// the transactional lane before the bulk lane (DESIGN.md §3). Not
// thread-safe: owned by one adapter on one worker thread.
class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(std::size_t limit);

  // Runs `task` with a held slot now when one is free, else queues it. The
  // task's work keeps the slot until it is done with it. A queued task that
  // is abandoned runs with an empty slot instead (held() false).
  using Task = std::function<void(LimiterSlot slot)>;
  void Run(bool bulk, Task task);
  // Calls every queued task with an empty slot (shutdown: nothing new goes
  // on the wire). Returns how many there were.
  std::size_t AbandonQueued();

  std::size_t active() const;
  std::size_t queued() const;
  std::size_t limit() const;

 private:
  std::shared_ptr<LimiterSlot::Core> core_;
};

}  // namespace omnigate::providers
