#include "gateway/state/turn_batcher.h"

#include <boost/asio/post.hpp>

#include <utility>

namespace omnigate::state {

void TurnBatcher::Execute(std::span<Op> ops, Done done) {
  calls_.push_back(Call{ops, std::move(done)});
  if (posted_) return;
  posted_ = true;
  boost::asio::post(io_, [this] { Flush(); });
}

void TurnBatcher::Flush() {
  posted_ = false;
  auto calls = std::make_shared<std::vector<Call>>(std::move(calls_));
  calls_.clear();
  ++store_calls_;
  if (calls->size() == 1) {
    Call& only = calls->front();
    store_.Execute(only.ops, std::move(only.done));
    return;
  }
  // The ops move into one contiguous batch and back out once it is done:
  // moving strings costs pointers, not copies.
  auto merged = std::make_shared<std::vector<Op>>();
  std::size_t total = 0;
  for (const Call& c : *calls) total += c.ops.size();
  merged->reserve(total);
  for (Call& c : *calls) {
    for (Op& op : c.ops) merged->push_back(std::move(op));
  }
  store_.Execute(*merged, [calls, merged](StoreStatus status) {
    std::size_t at = 0;
    for (Call& c : *calls) {
      for (Op& op : c.ops) op = std::move((*merged)[at++]);
    }
    // A done may call Execute again: that starts the next batch.
    for (Call& c : *calls) c.done(status);
  });
}

}  // namespace omnigate::state
