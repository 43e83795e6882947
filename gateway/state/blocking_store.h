#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/state/redis_store.h"
#include "gateway/state/state_store.h"

namespace omnigate::state {

// The state store for callers that may wait a round trip: the admin API
// (suppressions, consents), tools and tests. Over the embedded store it calls
// straight through; over redis it keeps a RedisStore of its own on a thread
// of its own, so that it never shares a worker's connection. Thread-safe.
class BlockingStore {
 public:
  // Over a shared (embedded) store, which must outlive this.
  explicit BlockingStore(StateStore& shared);
  // Over a redis connection of its own; connects in the background.
  BlockingStore(RedisStoreOptions options, const Clock& clock);
  ~BlockingStore();
  BlockingStore(const BlockingStore&) = delete;
  BlockingStore& operator=(const BlockingStore&) = delete;

  // Runs the batch and waits for it, at most `timeout` (then unavailable).
  StoreStatus Run(std::vector<Op>& ops, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::string_view backend() const;

 private:
  class Redis;
  StateStore* shared_ = nullptr;
  std::unique_ptr<Redis> redis_;
};

}  // namespace omnigate::state
