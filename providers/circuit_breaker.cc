#include "providers/circuit_breaker.h"

#include <algorithm>

namespace omnigate::providers {

bool CircuitBreaker::Allow(TimePoint now) {
  if (state_.load(std::memory_order_acquire) == State::closed) return true;
  std::lock_guard lock(mu_);
  switch (state_.load(std::memory_order_relaxed)) {
    case State::closed:
      return true;
    case State::open:
      if (now < retry_at_) break;
      state_.store(State::half_open, std::memory_order_release);
      probe_out_ = true;
      return true;
    case State::half_open:
      if (!probe_out_) {
        probe_out_ = true;
        return true;
      }
      break;
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void CircuitBreaker::Record(bool success, TimePoint now) {
  if (options_.failures <= 0) return;
  if (success) {
    if (state_.load(std::memory_order_acquire) == State::closed &&
        consecutive_.load(std::memory_order_relaxed) == 0) {
      return;
    }
    std::lock_guard lock(mu_);
    consecutive_.store(0, std::memory_order_relaxed);
    if (state_.load(std::memory_order_relaxed) != State::closed) {
      // A probe's answer, or a send let through before the breaker opened
      // answering late: the provider is up either way.
      probe_out_ = false;
      open_for_ = {};
      state_.store(State::closed, std::memory_order_release);
    }
    return;
  }
  std::lock_guard lock(mu_);
  switch (state_.load(std::memory_order_relaxed)) {
    case State::closed:
      if (consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >= options_.failures) {
        OpenLocked(now, options_.open_for);
      }
      break;
    case State::half_open:
      // The probe failed: open again, for longer.
      probe_out_ = false;
      OpenLocked(now, std::min(open_for_ * 2, options_.max_open_for));
      break;
    case State::open:
      break;  // sends that were on the wire when it opened
  }
}

void CircuitBreaker::Cancel() {
  if (state_.load(std::memory_order_acquire) != State::half_open) return;
  std::lock_guard lock(mu_);
  probe_out_ = false;
}

CircuitBreaker::TimePoint CircuitBreaker::retry_at() const {
  std::lock_guard lock(mu_);
  return retry_at_;
}

void CircuitBreaker::OpenLocked(TimePoint now, std::chrono::milliseconds for_how_long) {
  open_for_ = std::max(for_how_long, options_.open_for);
  retry_at_ = now + open_for_;
  consecutive_.store(0, std::memory_order_relaxed);
  opened_.fetch_add(1, std::memory_order_relaxed);
  state_.store(State::open, std::memory_order_release);
}

std::string_view ToString(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::closed: return "closed";
    case CircuitBreaker::State::open: return "open";
    case CircuitBreaker::State::half_open: return "half_open";
  }
  return "closed";
}

}  // namespace omnigate::providers
