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
  auto parts = std::make_shared<std::vector<std::span<Op>>>();
  parts->reserve(calls->size());
  for (const Call& c : *calls) parts->push_back(c.ops);
  store_.ExecuteParts(*parts, [calls, parts](StoreStatus status) {
    // A done may call Execute again: that starts the next batch.
    for (Call& c : *calls) c.done(status);
  });
}

}  // namespace omnigate::state
