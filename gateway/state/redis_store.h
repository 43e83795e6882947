#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/clock.h"
#include "gateway/state/state_store.h"

namespace boost::asio {
class io_context;
}

namespace omnigate::state {

struct RedisStoreOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when set; never logged
  std::chrono::milliseconds reconnect_backoff{500};
  // A batch whose replies have not all come back in this time fails as
  // unavailable (the connection is then reset).
  std::chrono::milliseconds command_timeout{2000};
};

// The shared backend: one redis-server (or a Cluster: every key carries the
// caller's hash tag) for every instance. One RedisStore per worker, driven by
// that worker's io_context through hiredis's asynchronous API: no thread of
// its own, no blocking call. A batch goes out pipelined; each op is one
// EVALSHA of a script loaded at connect time, so that expiry is judged by the
// injected clock (as the embedded backend does) and read-modify-write ops are
// atomic on the server. Redis's own expiry (the TTL plus a minute) only
// reclaims memory.
//
// Not thread-safe: Execute and `done` run on the io_context's thread. While
// disconnected, Execute fails at once with `unavailable` and the store
// reconnects by itself every `reconnect_backoff`.
class RedisStore final : public StateStore {
 public:
  RedisStore(boost::asio::io_context& io, RedisStoreOptions options, const Clock& clock);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // Starts connecting (asynchronously). Call on the io_context's thread.
  void Start();
  void Execute(std::span<Op> ops, Done done) override;
  // The parts' ops are read and answered where they are (the base class
  // moves them into one vector and back).
  void ExecuteParts(std::span<const std::span<Op>> parts, Done done) override;
  void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                      TimersDone done) override;
  std::string_view backend() const override { return "redis"; }
  bool connected() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace omnigate::state
