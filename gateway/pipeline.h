#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/partition_state.h"
#include "gateway/worker.h"
#include "queue/kafka_consumer.h"

namespace omnigate::queue {
class EmbeddedBroker;
class KafkaProducer;
}  // namespace omnigate::queue

namespace omnigate::state {
class EmbeddedStore;
class StateStore;
}  // namespace omnigate::state

namespace omnigate::gateway {

class Worker;

// The service's data plane: the Kafka consumer, the producer, the workers,
// and (with kafka.brokers: embedded) the in-process broker. Run() is the
// consumer thread: it polls, hands records to workers by partition, pauses
// partitions whose uncommitted requests exceed the limits, and handles
// rebalances. Lifecycle: Create(), Run() until `stop`, then it drains and
// returns; destroy afterwards.
class Pipeline final : public queue::ConsumerListener {
 public:
  static Result<std::unique_ptr<Pipeline>, std::string> Create(
      std::shared_ptr<const Config> config, GatewayMetrics& metrics);
  ~Pipeline() override;

  // Returns when `stop` becomes true (after a graceful drain) or on a fatal
  // Kafka error (non-zero).
  int Run(const std::atomic<bool>& stop);

  // Kafka partitions assigned at least once and the producer up.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }
  // ready(), not shutting down, and a broker answered a metadata request in
  // the last seconds; else `why` says what is missing. For /readyz; called
  // from one thread at a time (it may wait up to a second for a broker).
  bool Ready(std::string& why);
  // The bootstrap address in use (the embedded broker's, when embedded).
  const std::string& bootstrap() const { return bootstrap_; }
  // The embedded state store the workers share (for the admin API); null
  // with policy off or the redis backend.
  state::StateStore* shared_store() const;
  // The producer of events (thread-safe), for the receipts route.
  queue::KafkaProducer& producer() { return *producer_; }

  // ConsumerListener, called on the Run() thread.
  void OnAssigned(const std::vector<queue::TopicPartition>& partitions) override;
  std::vector<queue::TopicPartition> OnRevoked(
      const std::vector<queue::TopicPartition>& partitions) override;
  void OnCommitted(const std::vector<queue::TopicPartition>& offsets, bool ok) override;

 private:
  Pipeline(std::shared_ptr<const Config> config, GatewayMetrics& metrics);
  // Hands records to workers within the limits; holds back the rest.
  void HandOver(std::vector<queue::KafkaMessage>& batch);
  void UpdateFlowControl();
  // In-flight records (all partitions) above which a lane's records are held.
  std::int64_t LaneLimit(Lane lane) const;
  PartitionState* Find(std::string_view topic, std::int32_t partition);
  // SIGTERM: no new work, requests on the wire get until the deadline.
  void Drain();
  std::int64_t Busy() const;

  std::shared_ptr<const Config> config_;
  GatewayMetrics& metrics_;
  std::unique_ptr<queue::EmbeddedBroker> broker_;
  std::unique_ptr<state::EmbeddedStore> embedded_store_;
  std::unique_ptr<StateHealth> state_health_;
  std::unique_ptr<queue::KafkaProducer> producer_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<queue::KafkaConsumer> consumer_;
  std::string bootstrap_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  // Run() thread, read by OnRevoked: requests on the wire may finish until then.
  std::chrono::steady_clock::time_point drain_deadline_{};
  // Ready()'s broker probe, cached (its caller's thread only).
  std::chrono::steady_clock::time_point probed_at_{};
  bool broker_reachable_ = true;

  // Run() thread only.
  std::map<std::pair<std::string, std::int32_t>, std::shared_ptr<PartitionState>> partitions_;
  std::size_t next_worker_ = 0;
  std::vector<std::vector<Incoming>> per_worker_;  // consumer thread: the batch being split
  bool all_paused_ = false;
};

}  // namespace omnigate::gateway
