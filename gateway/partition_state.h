#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/request.h"
#include "queue/kafka_message.h"
#include "queue/offset_tracker.h"

namespace omnigate::gateway {

class Worker;
struct RequestContext;

// One assigned request partition. Created by the pipeline when the partition
// is assigned and shared (shared_ptr) with the worker that processes it and
// with every request read from it, so late completions after a revoke touch
// live memory. Fields are grouped by the thread that owns them.
struct PartitionState {
  // Immutable after creation.
  std::string topic;
  std::int32_t partition = 0;
  Lane lane = Lane::transactional;
  Worker* worker = nullptr;
  std::size_t worker_index = 0;

  // Consumer thread only: flow control.
  std::int64_t first_consumed = -1;  // first offset read in this assignment
  std::int64_t next_offset = -1;     // one past the last offset read
  std::int64_t committed = -1;       // last commit Kafka acknowledged
  bool paused = false;
  // Records fetched while over the limits, in offset order: handed over first
  // when room frees up. Bounded by what librdkafka had prefetched when the
  // partition was paused (kafka consumer queued.max.messages.kbytes).
  std::deque<queue::KafkaMessage> backlog;

  // Immutable after creation: [first, last+1) offset ranges whose handling
  // ended before this assignment (offset commit metadata). Redelivered, they
  // are marked done without being processed again.
  std::vector<std::pair<std::int64_t, std::int64_t>> done_before;

  // Worker thread only.
  queue::PartitionOffsetTracker tracker;
  std::size_t done_before_pos = 0;  // first range of done_before not yet passed
  std::unordered_set<RequestContext*> waiting;  // requests parked on a timer

  // Written by the worker, read by the consumer thread during a revoke.
  std::atomic<bool> revoked{false};
  std::atomic<std::int64_t> committable{-1};
  std::atomic<std::int64_t> busy{0};  // tracked requests not done and not abandoned

  // Requests consumed and not yet committed, as the consumer thread sees it.
  std::int64_t Uncommitted() const {
    if (first_consumed < 0) return 0;
    const std::int64_t base = committed > first_consumed ? committed : first_consumed;
    return next_offset > base ? next_offset - base : 0;
  }
};

}  // namespace omnigate::gateway
