#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace omnigate::providers {

// Per-provider circuit breaker, shared by every worker that sends through
// the provider. After `failures` transient failures in a row (connection
// errors, timeouts, 5xx: SendStatus::retry) it opens: sends skip the
// provider (failover to the next, or a retry later) without waiting on a
// dead endpoint. After `open_for` one probe send goes through (half open):
// an answer closes it, a failure opens it again for twice as long, up to
// `max_open_for`. Any answer from the provider (accepted, refused,
// throttled) counts as success: the endpoint is up.
//
// Thread-safe. The closed state's path (Allow, and Record of a success
// with no failure counted) is one atomic load each.
class CircuitBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Options {
    int failures = 5;  // 0: never opens
    std::chrono::milliseconds open_for{30'000};
    std::chrono::milliseconds max_open_for{300'000};
  };
  enum class State : std::uint8_t { closed, open, half_open };

  explicit CircuitBreaker(Options options) : options_(options) {}

  // Whether a send may go to the provider now. A true from a half-open
  // breaker makes the caller the probe: it must Record (or Cancel) it.
  bool Allow(TimePoint now);
  // The outcome of a send that Allow let through.
  void Record(bool success, TimePoint now);
  // A send that Allow let through and that never reached the provider
  // (abandoned at shutdown): frees the probe place if it held it.
  void Cancel();

  State state() const { return state_.load(std::memory_order_acquire); }
  // When an open breaker lets its probe through (meaningless when closed).
  TimePoint retry_at() const;
  std::uint64_t opened_total() const { return opened_.load(std::memory_order_relaxed); }
  std::uint64_t rejected_total() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  void OpenLocked(TimePoint now, std::chrono::milliseconds for_how_long);

  const Options options_;
  std::atomic<State> state_{State::closed};
  std::atomic<int> consecutive_{0};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::uint64_t> rejected_{0};
  mutable std::mutex mu_;
  TimePoint retry_at_{};                  // guarded by mu_
  std::chrono::milliseconds open_for_{};  // guarded by mu_: the last open period
  bool probe_out_ = false;                // guarded by mu_
};

std::string_view ToString(CircuitBreaker::State state);

}  // namespace omnigate::providers
