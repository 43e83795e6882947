#pragma once

#include <array>
#include <deque>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/config.h"
#include "gateway/event.h"
#include "gateway/metrics.h"
#include "gateway/partition_state.h"
#include "gateway/provider_factory.h"
#include "gateway/request.h"
#include "providers/provider.h"
#include "queue/kafka_message.h"

namespace boost::asio {
class io_context;
}

namespace omnigate::queue {
class KafkaConsumer;
class KafkaProducer;
}  // namespace omnigate::queue

namespace omnigate::gateway {

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
  Worker(int index, std::shared_ptr<const Config> config, queue::KafkaProducer& producer,
         GatewayMetrics& metrics);
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

  // Live requests on this worker (approximate when read from another thread).
  std::size_t live() const { return live_count_.load(std::memory_order_relaxed); }

 private:
  friend struct PendingRecord;
  struct Route {
    providers::Provider* provider;
    ProviderMetrics* metrics;
  };

  void DrainIncoming();
  void Process(Incoming& in);
  void Reject(RequestContext* ctx, const ValidationError& error);
  void Begin(RequestContext* ctx);
  void TrySend(RequestContext* ctx);
  void OnSendResult(RequestContext* ctx, const Route& route, providers::SendResult result);
  void ChannelFailed(RequestContext* ctx, const std::string& reason);
  void Park(RequestContext* ctx, std::chrono::milliseconds delay);
  void Finish(RequestContext* ctx, EventStatus status, std::string_view provider,
              std::string_view provider_message_id, std::string_view reason, int segments);
  void Emit(RequestContext* ctx, EventStatus status, bool final, std::string_view provider = {},
            std::string_view provider_message_id = {}, std::string_view reason = {},
            int segments = 0);
  void ProduceRecord(PendingRecord* rec);
  // Producer thread: queues a delivery report for DrainDeliveries.
  void QueueDelivery(PendingRecord* rec, bool ok);
  void DrainDeliveries();
  void OnRecordDelivered(PendingRecord* rec, bool ok);
  void MaybeComplete(RequestContext* ctx);
  void Release(RequestContext* ctx, bool durable);
  void CommitTick();
  std::chrono::milliseconds Backoff(int attempt);

  const int index_;
  std::shared_ptr<const Config> config_;
  queue::KafkaProducer& producer_;
  GatewayMetrics& metrics_;
  queue::KafkaConsumer* consumer_ = nullptr;

  class Loop;  // io_context, work guard, timers (keeps Asio out of this header)
  std::unique_ptr<Loop> loop_;
  std::thread thread_;

  // Worker thread only.
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
  std::atomic<std::size_t> live_count_{0};
};

}  // namespace omnigate::gateway
