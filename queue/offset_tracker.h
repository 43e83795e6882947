#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

  // What to commit: the first offset not yet done, and in `metadata` the done
  // offsets above it (EncodeDoneRanges), so that a restart or the partition's
  // next owner skips requests whose handling already ended instead of
  // repeating them. nullopt when nothing changed since the last call (unless
  // `force`).
  struct Commit {
    std::int64_t offset = -1;
    std::string metadata;
  };
  std::optional<Commit> TakeCommitWithDone(std::size_t max_metadata_bytes, bool force = false);

 private:
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  std::deque<Entry> window_;  // offsets not yet committable, increasing
  std::int64_t last_tracked_ = -1;
  std::int64_t committable_ = -1;
  std::size_t pending_ = 0;
  bool changed_ = false;  // an offset became done since the last TakeCommitWithDone
};

// Done offsets above a committed offset, carried in the offset commit's
// metadata string (Kafka stores it with the offset; brokers take up to
// offset.metadata.max.bytes, 4,096 by default). Text, so that
// kafka-consumer-groups and kcat show it: "og1:<base>:<gap>+<len>,..."
// where each range starts <gap> offsets after the end of the previous one
// (the first after <base>) and covers <len> offsets. Ranges that do not fit
// in `max_bytes` are left out: they are repeated, never skipped wrongly.
std::string EncodeDoneRanges(std::int64_t base,
                             const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges,
                             std::size_t max_bytes);
// The absolute [first, last+1) ranges in `metadata`, if it is ours and was
// committed with `committed_offset`; empty otherwise.
std::vector<std::pair<std::int64_t, std::int64_t>> DecodeDoneRanges(std::string_view metadata,
                                                                    std::int64_t committed_offset);

}  // namespace omnigate::queue
