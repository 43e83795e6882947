#include "gateway/state/blocking_store.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_name.h"

namespace omnigate::state {

namespace asio = boost::asio;

class BlockingStore::Redis {
 public:
  Redis(RedisStoreOptions options, const Clock& clock) : store_(io_, std::move(options), clock) {
    asio::post(io_, [this] { store_.Start(); });
    thread_ = std::thread([this] {
      SetThreadName("og-redis");
      io_.run();
    });
  }
  ~Redis() {
    // The store closes on its own thread (its callbacks run there).
    asio::post(io_, [this] {
      guard_.reset();
      io_.stop();
    });
    thread_.join();
  }

  StoreStatus Run(std::vector<Op>& ops, std::chrono::milliseconds timeout) {
    // Shared with the callback: a batch that outlives its caller's wait must
    // find its ops and its flag alive.
    struct Call {
      std::vector<Op> ops;
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      StoreStatus status = StoreStatus::unavailable;
    };
    auto call = std::make_shared<Call>();
    call->ops = ops;
    asio::post(io_, [this, call] {
      store_.Execute(call->ops, [call](StoreStatus s) {
        std::lock_guard lock(call->mu);
        call->status = s;
        call->done = true;
        call->cv.notify_all();
      });
    });
    std::unique_lock lock(call->mu);
    if (!call->cv.wait_for(lock, timeout, [&] { return call->done; })) {
      return StoreStatus::unavailable;
    }
    ops = call->ops;
    return call->status;
  }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{asio::make_work_guard(io_)};
  RedisStore store_;
  std::thread thread_;
};

BlockingStore::BlockingStore(StateStore& shared) : shared_(&shared) {}

BlockingStore::BlockingStore(RedisStoreOptions options, const Clock& clock)
    : redis_(std::make_unique<Redis>(std::move(options), clock)) {}

BlockingStore::~BlockingStore() = default;

StoreStatus BlockingStore::Run(std::vector<Op>& ops, std::chrono::milliseconds timeout) {
  if (redis_) return redis_->Run(ops, timeout);
  StoreStatus status = StoreStatus::unavailable;
  shared_->Execute(ops, [&](StoreStatus s) { status = s; });  // synchronous backend
  return status;
}

std::string_view BlockingStore::backend() const { return redis_ ? "redis" : shared_->backend(); }

}  // namespace omnigate::state
