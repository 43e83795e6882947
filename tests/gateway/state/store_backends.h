// The state store's backends for tests: an embedded store in a temporary
// directory, and a real redis-server on a free loopback port with a
// RedisStore on an io_context thread of its own (as on a worker). Shared by
// the store's suite and the policy suite, which run on both.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/clock.h"
#include "gateway/state/embedded_store.h"
#include "gateway/state/redis_store.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/wait.h"

namespace omnigate::state::testing_backends {

using namespace std::chrono_literals;
namespace testing = ::omnigate::testing;

class EmbeddedBackend {
 public:
  explicit EmbeddedBackend(const Clock& clock) : clock_(clock) { Reopen(); }
  StateStore& store() { return *store_; }
  // Closes and opens the same directory: what survives a restart.
  void Reopen() {
    store_.reset();
    auto s = EmbeddedStore::Open({.path = dir_.File("state")}, clock_);
    EXPECT_TRUE(s) << (s ? "" : s.error());
    store_ = std::move(s).value();
  }
  void Compact() { store_->CompactForTests(); }

 private:
  const Clock& clock_;
  testing::TempDir dir_;
  std::unique_ptr<EmbeddedStore> store_;
};

// A real redis-server on a free loopback port, no persistence, and a
// RedisStore on an io_context thread of its own (as on a worker). Execute is
// posted to that thread; the callback runs there.
class RedisBackend {
 public:
  explicit RedisBackend(const Clock& clock) {
    store_ = std::make_unique<RedisStore>(io_, RedisStoreOptions{.port = server_.port(),
                                                                 .reconnect_backoff = 100ms},
                                          clock);
    boost::asio::post(io_, [this] { store_->Start(); });
    thread_ = std::thread([this] { io_.run(); });
    EXPECT_TRUE(testing::WaitFor([&] { return store_->connected(); }, 10s));
  }
  ~RedisBackend() {
    boost::asio::post(io_, [this] { store_.reset(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  StateStore& store() { return posting_; }
  // A restart of the store (not of redis-server, which holds the data).
  void Reopen() {}
  void StopServer() { server_.Stop(); }
  void StartServer() { server_.Start(); }
  bool connected() const { return store_->connected(); }
  // For a second connection of the caller's own (BlockingStore).
  int port() const { return server_.port(); }

 private:
  class Posting final : public StateStore {
   public:
    explicit Posting(RedisBackend& b) : b_(b) {}
    void Execute(std::span<Op> ops, Done done) override {
      boost::asio::post(b_.io_, [this, ops, done = std::move(done)]() mutable {
        b_.store_->Execute(ops, std::move(done));
      });
    }
    void ExecuteParts(std::span<const std::span<Op>> parts, Done done) override {
      boost::asio::post(b_.io_, [this, parts, done = std::move(done)]() mutable {
        b_.store_->ExecuteParts(parts, std::move(done));
      });
    }
    void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                        TimersDone done) override {
      boost::asio::post(b_.io_, [this, limit, lease, done = std::move(done)]() mutable {
        b_.store_->ClaimDueTimers(limit, lease, std::move(done));
      });
    }
    std::string_view backend() const override { return "redis"; }

   private:
    RedisBackend& b_;
  };

  testing::RedisServer server_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      boost::asio::make_work_guard(io_)};
  std::unique_ptr<RedisStore> store_;
  Posting posting_{*this};
  std::thread thread_;
};

// Starts a store call with a callback and waits for its status; aborts when
// none comes (the call's ops would dangle under a late one).
inline StoreStatus AwaitStatus(const std::function<void(StateStore::Done)>& start) {
  auto promise = std::make_shared<std::promise<StoreStatus>>();
  auto future = promise->get_future();
  start([promise](StoreStatus s) { promise->set_value(s); });
  if (future.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer from the store in 10 s";
    std::abort();
  }
  return future.get();
}

// Runs a batch and waits for its answer.
inline StoreStatus RunOps(StateStore& store, std::vector<Op>& ops) {
  return AwaitStatus([&](StateStore::Done done) { store.Execute(ops, std::move(done)); });
}

// Runs a batch made of several callers' parts (as TurnBatcher hands a turn's
// calls over) and waits for its answer.
inline StoreStatus RunParts(StateStore& store, std::span<const std::span<Op>> parts) {
  return AwaitStatus([&](StateStore::Done done) { store.ExecuteParts(parts, std::move(done)); });
}

// Claims due timers and waits for the answer.
inline std::vector<DueTimer> ClaimDue(StateStore& store, std::size_t limit,
                                      std::chrono::milliseconds lease,
                                      StoreStatus* status_out = nullptr) {
  auto promise = std::make_shared<std::promise<std::pair<StoreStatus, std::vector<DueTimer>>>>();
  auto future = promise->get_future();
  store.ClaimDueTimers(limit, lease, [promise](StoreStatus s, std::vector<DueTimer> due) {
    promise->set_value({s, std::move(due)});
  });
  if (future.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer from the store in 10 s";
    std::abort();
  }
  auto [status, due] = future.get();
  if (status_out != nullptr) *status_out = status;
  return due;
}

class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, EmbeddedBackend>) return "Embedded";
    if (std::is_same_v<T, RedisBackend>) return "Redis";
    return "Unknown";
  }
};

}  // namespace omnigate::state::testing_backends
