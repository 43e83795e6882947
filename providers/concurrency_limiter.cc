#include "providers/concurrency_limiter.h"

#include <utility>

namespace omnigate::providers {

void ConcurrencyLimiter::Run(bool bulk, std::function<void()> start) {
  if (active_ < limit_) {
    ++active_;
    start();
    return;
  }
  (bulk ? bulk_ : transactional_).push_back(std::move(start));
}

void ConcurrencyLimiter::Release() {
  if (active_ > 0) --active_;
  while (active_ < limit_ && (!transactional_.empty() || !bulk_.empty())) {
    auto& q = transactional_.empty() ? bulk_ : transactional_;
    auto next = std::move(q.front());
    q.pop_front();
    ++active_;
    next();
  }
}

}  // namespace omnigate::providers
