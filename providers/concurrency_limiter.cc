#include "providers/concurrency_limiter.h"

#include <utility>

namespace omnigate::providers {

struct LimiterSlot::Core {
  std::size_t limit;
  std::size_t active = 0;
  std::deque<ConcurrencyLimiter::Task> transactional;
  std::deque<ConcurrencyLimiter::Task> bulk;

  // Frees one slot and hands free slots to the queued tasks, transactional
  // lane first. `self` keeps the core alive across tasks that may drop the
  // limiter.
  static void Free(const std::shared_ptr<Core>& self) {
    if (self->active > 0) --self->active;
    while (self->active < self->limit && (!self->transactional.empty() || !self->bulk.empty())) {
      auto& q = self->transactional.empty() ? self->bulk : self->transactional;
      auto next = std::move(q.front());
      q.pop_front();
      ++self->active;
      next(LimiterSlot(self));
    }
  }
};

struct LimiterSlot::Hold {
  std::weak_ptr<Core> core;
  explicit Hold(const std::shared_ptr<Core>& c) : core(c) {}
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;
  ~Hold() { Free(); }
  void Free() {
    auto c = core.lock();
    core.reset();
    if (c) Core::Free(c);
  }
};

LimiterSlot::LimiterSlot(const std::shared_ptr<Core>& core) : hold_(std::make_shared<Hold>(core)) {}

void LimiterSlot::Release() {
  // Let go of this object first: freeing runs queued tasks, which may move
  // or destroy it.
  auto hold = std::move(hold_);
  if (hold) hold->Free();
}

bool LimiterSlot::held() const { return hold_ && !hold_->core.expired(); }

ConcurrencyLimiter::ConcurrencyLimiter(std::size_t limit)
    : core_(std::make_shared<LimiterSlot::Core>(LimiterSlot::Core{.limit = limit == 0 ? 1 : limit})) {}

void ConcurrencyLimiter::Run(bool bulk, Task task) {
  if (core_->active < core_->limit) {
    ++core_->active;
    task(LimiterSlot(core_));
    return;
  }
  (bulk ? core_->bulk : core_->transactional).push_back(std::move(task));
}

std::size_t ConcurrencyLimiter::AbandonQueued() {
  // Moved out first: a task's callback may queue again (it must not, but a
  // re-entrant push must not invalidate this walk).
  auto transactional = std::move(core_->transactional);
  auto bulk = std::move(core_->bulk);
  core_->transactional.clear();
  core_->bulk.clear();
  for (auto& t : transactional) t(LimiterSlot());
  for (auto& t : bulk) t(LimiterSlot());
  return transactional.size() + bulk.size();
}

std::size_t ConcurrencyLimiter::active() const { return core_->active; }
std::size_t ConcurrencyLimiter::queued() const {
  return core_->transactional.size() + core_->bulk.size();
}
std::size_t ConcurrencyLimiter::limit() const { return core_->limit; }

}  // namespace omnigate::providers
