#include "queue/offset_tracker.h"

#include <algorithm>

namespace omnigate::queue {

bool PartitionOffsetTracker::Track(std::int64_t offset) {
  if (offset < 0 || offset <= last_tracked_) return false;
  window_.push_back({offset, false});
  last_tracked_ = offset;
  ++pending_;
  return true;
}

bool PartitionOffsetTracker::MarkDone(std::int64_t offset) {
  auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                             [](const Entry& e, std::int64_t o) { return e.offset < o; });
  if (it == window_.end() || it->offset != offset || it->done) return false;
  it->done = true;
  --pending_;
  // The common case (in-order completion) pops exactly the entry just marked.
  while (!window_.empty() && window_.front().done) {
    committable_ = window_.front().offset + 1;
    window_.pop_front();
  }
  return true;
}

std::int64_t PartitionOffsetTracker::TakeCommit() {
  if (committable_ <= last_taken_) return -1;
  last_taken_ = committable_;
  return committable_;
}

}  // namespace omnigate::queue
