#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/hash_counts.h"
#include "gateway/config.h"
#include "gateway/event.h"
#include "gateway/metrics.h"
#include "gateway/partition_state.h"
#include "gateway/provider_factory.h"
#include "gateway/request.h"
#include "gateway/policy/quiet_hours.h"
#include "gateway/state/state_store.h"
#include "gateway/state_health.h"
#include "providers/provider.h"
#include "queue/kafka_consumer.h"
#include "queue/kafka_message.h"

namespace boost::asio {
class io_context;
}

namespace omnigate::queue {
class KafkaProducer;
}  // namespace omnigate::queue

namespace omnigate::state {
class RedisStore;
class TurnBatcher;
}  // namespace omnigate::state

namespace omnigate::gateway {

struct CascadeState;

// One consumed record on its way to a worker.
struct Incoming {
  queue::KafkaMessage message;
  std::shared_ptr<PartitionState> partition;
};

struct RequestContext;
struct PendingRecord;

// A pipeline thread: decode → route → dispatch → record for the partitions
// the pipeline hands it. Owns an io_context and its thread, its own
// providers and HTTP transports, its request decoder, and every request in
// progress on it. Requests never move between workers, so nothing here takes
// a lock. Lifecycle: constructed, Start(), any number of Submit(), Stop().
class Worker {
 public:
  // With policy on, `shared_store` is the embedded store every worker shares,
  // or null with the redis backend (each worker then opens its own
  // connection on its io_context). `health` receives this worker's store
  // outcomes. Both outlive the worker.
  Worker(int index, std::shared_ptr<const Config> config, queue::KafkaProducer& producer,
         GatewayMetrics& metrics, state::StateStore* shared_store = nullptr,
         StateHealth* health = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. `consumer` receives this worker's offset commits.
  void Start(queue::KafkaConsumer* consumer);
  // Stops the thread; requests still in progress are dropped (not committed).
  void Stop();

  // Thread-safe: hand records or partition changes to this worker.
  void Submit(std::vector<Incoming> batch);
  void AddPartition(std::shared_ptr<PartitionState> partition);
  // The partition is revoked: stop committing it, give up requests parked on
  // timers (they will be redelivered to the next owner), forget it.
  void RevokePartition(std::shared_ptr<PartitionState> partition);

  // Shutdown, step 1 (thread-safe): no new provider call starts from now on.
  // Records not yet processed are dropped (never tracked: redelivered),
  // requests parked on a timer and requests about to make a provider call
  // (a retry, a failover, the next channel) are abandoned. Provider calls
  // already made run on and end normally until Stop().
  void StartDraining();

  // Thread-safe: what to commit for `partitions` now (offset and done-ranges
  // metadata, see PartitionOffsetTracker::TakeCommitWithDone), computed on
  // the worker's thread. For a revoke or shutdown: the partitions are revoked.
  std::future<std::vector<queue::TopicPartition>> FinalCommits(
      std::vector<std::shared_ptr<PartitionState>> partitions);

  // Live requests on this worker (approximate when read from another thread).
  std::size_t live() const { return live_count_.load(std::memory_order_relaxed); }
  // Requests parked on a timer, and since when (steady clock, ns) the oldest
  // of them waits; 0 when none. Refreshed every commit tick.
  std::int64_t parked() const { return parked_count_.load(std::memory_order_relaxed); }
  std::int64_t oldest_parked_since_ns() const {
    return oldest_parked_since_.load(std::memory_order_relaxed);
  }

 private:
  friend struct PendingRecord;
  struct Route {
    providers::Provider* provider;
    ProviderMetrics* metrics;
    providers::CircuitBreaker* breaker;  // shared with the other workers; may be null
  };

  void DrainIncoming();
  void Process(Incoming& in);
  void Reject(RequestContext* ctx, const ValidationError& error);
  void Begin(RequestContext* ctx);
  void TrySend(RequestContext* ctx);
  void OnSendResult(RequestContext* ctx, const Route& route, providers::SendResult result);
  void ChannelFailed(RequestContext* ctx, const std::string& reason);
  // Delivery policy (state store): the checks before the first send, and
  // the record of an accepted send before its final event.
  void RunChecks(RequestContext* ctx);
  void OnChecked(RequestContext* ctx, bool ok);
  // Durable timers: a request deferred or scheduled is written to a timer
  // (its offset then committed); due timers are claimed and fired here.
  void Defer(RequestContext* ctx, std::chrono::system_clock::time_point until, EventStatus status,
             std::string reason);
  void WriteTimer(RequestContext* ctx);
  // Writes `ops` (the request's own) until the store takes them, the
  // request in flight meanwhile (given up if its partition goes or the
  // worker drains), then calls `stored`.
  void WriteDurably(RequestContext* ctx, std::span<state::Op> ops, std::function<void()> stored);
  void PollTimers();
  void FireTimer(state::DueTimer t);
  void EraseTimer(const std::string& id);
  void RenewLeases();
  // Counts a new request as live (list, partition's busy count).
  void Track(RequestContext* ctx);
  void RecordSent(RequestContext* ctx, const Route& route, providers::SendResult result);
  // Receipt-timed cascades (DESIGN.md §4): a step that waits for a receipt
  // hands the request to a timer; the timer decides when it fires.
  void AwaitReceipt(RequestContext* ctx, std::string sent_event,
                    std::chrono::system_clock::time_point timeout_at);
  void WriteCascade(RequestContext* ctx);
  // The current channel's cascade step when its send waits for a receipt
  // (wait_for delivered|read, a next channel, a provider id, the status
  // store on), else null.
  const CascadeStep* WaitingStep(const RequestContext* ctx,
                                 std::string_view provider_message_id) const;
  void CascadeTimerFired(RequestContext* ctx);
  // The step's record (`step`, stored as `expected` under `key`) is off to
  // the next channel: the later channels' opt-outs are checked (the
  // policy's ops, executed), then quiet hours may hold the next one.
  void NextCascadeStep(RequestContext* ctx, const CascadeState& step, const std::string& key,
                       const std::string& expected);
  // Moves past channels the policy skipped, emitting a fallback event for
  // each; false when none is left.
  bool SkipDisallowedChannels(RequestContext* ctx);
  void Park(RequestContext* ctx, std::chrono::milliseconds delay);
  void Finish(RequestContext* ctx, EventStatus status, std::string_view provider,
              std::string_view provider_message_id, std::string_view reason, int segments);
  void Emit(RequestContext* ctx, EventStatus status, bool final, std::string_view provider = {},
            std::string_view provider_message_id = {}, std::string_view reason = {},
            int segments = 0);
  // Emit in two steps: the event's JSON (its seq taken, added to the
  // request's pending history), then its record for Kafka.
  std::string BuildEvent(RequestContext* ctx, EventStatus status, bool final,
                         std::string_view provider, std::string_view provider_message_id,
                         std::string_view reason, int segments);
  void ProduceEvent(RequestContext* ctx, std::string json, bool final);
  // The status store: the request's pending history as one append op (none
  // when nothing is pending), and that op sent on its own.
  std::optional<state::Op> TakeHistory(RequestContext* ctx);
  void FlushHistory(RequestContext* ctx);
  void ProduceRecord(PendingRecord* rec);
  void FitDlqRecord(PendingRecord* rec);
  void ShrinkDlqRecord(PendingRecord* rec, std::size_t keep);
  bool HandleTooLarge(PendingRecord* rec);
  // The record is done with (acknowledged, or dropped for good).
  void Acknowledge(PendingRecord* rec);
  static void LogRecordFailure(std::string_view topic, std::string_view error);
  // Producer thread: queues a delivery report for DrainDeliveries.
  void QueueDelivery(PendingRecord* rec, bool ok);
  void DrainDeliveries();
  void OnRecordDelivered(PendingRecord* rec, bool ok);
  void MaybeComplete(RequestContext* ctx);
  void Release(RequestContext* ctx, bool durable);
  // Gives a request up without committing it (its partition's next owner, or
  // this process after a restart, starts it over).
  void Abandon(RequestContext* ctx);
  // True (and the request marked done) when its offset ended before this
  // assignment, per the committed metadata.
  bool DoneBefore(PartitionState& part, std::int64_t offset);
  void UpdateParkedStats();
  void CommitTick();
  std::chrono::milliseconds Backoff(int attempt);

  const int index_;
  std::shared_ptr<const Config> config_;
  queue::KafkaProducer& producer_;
  GatewayMetrics& metrics_;
  queue::KafkaConsumer* consumer_ = nullptr;
  state::StateStore* store_ = nullptr;  // null: policy off
  bool status_on_ = false;  // the status store is kept (a store, status_retention > 0)
  StateHealth* health_ = nullptr;

  class Loop;  // io_context, work guard, timers (keeps Asio out of this header)
  std::unique_ptr<Loop> loop_;
  std::thread thread_;

  // Worker thread only.
  std::unique_ptr<state::RedisStore> own_store_;  // the redis backend's connection
  // The policy's checks and send records of one loop turn, as one store call.
  std::unique_ptr<state::TurnBatcher> batched_store_;
  bool stopped_ = false;  // Stop() began: late store answers are ignored
  // A read the commit tick sends while this worker's store is marked down and
  // nothing else would find out that it is back (every waiting request gone).
  std::vector<state::Op> probe_;
  bool probing_ = false;
  // Requests fired from timers: their stand-in partition (never committed;
  // a fired request ends by erasing its timer) and the live ones, whose
  // leases are renewed.
  std::shared_ptr<PartitionState> timer_partition_;
  std::vector<std::shared_ptr<PartitionState>> timer_partitions_;
  std::unordered_set<RequestContext*> fired_;
  // Requests given up while a record of theirs was still on its way (see
  // RequestContext::released), freed when it is answered or at Stop.
  std::unordered_set<RequestContext*> released_;
  bool claiming_ = false;
  policy::TimeZones zones_;
  // Sends checked against a frequency cap and not yet counted in the store,
  // by cap key hash (see RequestPolicy::Decide).
  HashCounts cap_pending_;
  void ReleaseCaps(RequestContext* ctx);
  void ProbeStore();
  RequestDecoder decoder_;
  WorkerProviders providers_;
  std::array<std::vector<Route>, kChannelCount> routes_;
  std::vector<std::shared_ptr<PartitionState>> partitions_;
  RequestContext* live_head_ = nullptr;  // intrusive list through RequestContext
  std::size_t live_size_ = 0;
  std::vector<PendingRecord*> produce_backlog_;  // records the producer refused, retried on tick
  std::deque<Incoming> transactional_in_;  // submitted, not yet processed
  std::deque<Incoming> bulk_in_;
  bool drain_posted_ = false;
  std::minstd_rand rng_;
  std::string scratch_;
  bool draining_ = false;
  std::uint64_t commit_ticks_ = 0;
  // Provider refusals since the last report: logged once per provider per
  // interval with counts (a bad template fails thousands of sends a minute;
  // one line each would drown the log, none at all hides it).
  struct FailureTally {
    std::uint64_t permanent = 0;
    std::uint64_t invalid_address = 0;
    std::string last_reason;
  };
  std::map<std::string, FailureTally, std::less<>> failure_tally_;
  std::chrono::steady_clock::time_point failure_logged_at_{};
  void ReportFailures();
  std::atomic<std::size_t> live_count_{0};
  std::atomic<std::int64_t> parked_count_{0};
  std::atomic<std::int64_t> oldest_parked_since_{0};
};

}  // namespace omnigate::gateway
