#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <span>
#include <vector>

#include "gateway/state/state_store.h"

namespace omnigate::state {

// Gathers the Execute calls one event-loop turn makes into one call on the
// store underneath, made once the turn's other ready handlers have run. On
// the embedded backend that is one RocksDB write batch (one WAL append, one
// trip through RocksDB's write group) for every request a worker checked or
// recorded in the turn, instead of one each; on redis, one burst on the
// pipeline. Each caller's ops get their own results and its `done` runs on
// the loop's thread, after the batch, in the order the calls were made.
// A batch is no more a transaction than before: each op is atomic on its
// own, and ops on one key apply in call order.
//
// Loop thread only. ClaimDueTimers passes straight through.
class TurnBatcher final : public StateStore {
 public:
  TurnBatcher(boost::asio::io_context& io, StateStore& store) : io_(io), store_(store) {}

  void Execute(std::span<Op> ops, Done done) override;
  void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                      TimersDone done) override {
    store_.ClaimDueTimers(limit, lease, std::move(done));
  }
  std::string_view backend() const override { return store_.backend(); }

  // Calls made to the store underneath, for tests and the bench's notes.
  std::uint64_t store_calls() const { return store_calls_; }

 private:
  struct Call {
    std::span<Op> ops;
    Done done;
  };
  void Flush();

  boost::asio::io_context& io_;
  StateStore& store_;
  std::vector<Call> calls_;
  bool posted_ = false;
  std::uint64_t store_calls_ = 0;
};

}  // namespace omnigate::state
