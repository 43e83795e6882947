#include "providers/concurrency_limiter.h"

#include <utility>

namespace omnigate::providers {

void ConcurrencyLimiter::Run(bool bulk, Task task) {
  if (active_ < limit_) {
    ++active_;
    task(true);
    return;
  }
  (bulk ? bulk_ : transactional_).push_back(std::move(task));
}

void ConcurrencyLimiter::Release() {
  if (active_ > 0) --active_;
  while (active_ < limit_ && (!transactional_.empty() || !bulk_.empty())) {
    auto& q = transactional_.empty() ? bulk_ : transactional_;
    auto next = std::move(q.front());
    q.pop_front();
    ++active_;
    next(true);
  }
}

std::size_t ConcurrencyLimiter::AbandonQueued() {
  // Moved out first: a task's callback may queue again (it must not, but a
  // re-entrant push must not invalidate this walk).
  auto transactional = std::move(transactional_);
  auto bulk = std::move(bulk_);
  transactional_.clear();
  bulk_.clear();
  for (auto& t : transactional) t(false);
  for (auto& t : bulk) t(false);
  return transactional.size() + bulk.size();
}

}  // namespace omnigate::providers
