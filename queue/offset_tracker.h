#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace omnigate::queue {

// Tracks the offsets of one partition between "consumed" and "durable" so
// that the committed offset never passes a request that has not reached its
// durable point, whatever order requests complete in (DESIGN.md §8).
//
// Offsets must be tracked in increasing order (gaps are fine: compaction and
// transaction markers leave holes). Completion may happen in any order.
// Not thread-safe: owned by the worker that processes the partition.
class PartitionOffsetTracker {
 public:
  // Registers a consumed offset. Returns false (and ignores it) when the
  // offset is not above every offset tracked before: a redelivery after a
  // seek or rebalance must be handled by a fresh tracker.
  bool Track(std::int64_t offset);

  // Marks a tracked offset as durable. Returns false for an offset that is
  // not tracked or already done.
  bool MarkDone(std::int64_t offset);

  // The offset to commit (Kafka semantics: the next offset to consume), or -1
  // when nothing has become committable yet.
  std::int64_t committable() const { return committable_; }

  // Offsets tracked and not yet done.
  std::size_t pending() const { return pending_; }

  // Returns the committable offset if it advanced since the last call, else -1.
  std::int64_t TakeCommit();

 private:
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  std::deque<Entry> window_;  // offsets not yet committable, increasing
  std::int64_t last_tracked_ = -1;
  std::int64_t committable_ = -1;
  std::int64_t last_taken_ = -1;
  std::size_t pending_ = 0;
};

}  // namespace omnigate::queue
