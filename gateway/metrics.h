#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "providers/channel.h"
#include "providers/circuit_breaker.h"
#include "queue/kafka_stats.h"

namespace omnigate::gateway {

struct Counter {
  std::atomic<std::uint64_t> value{0};
  void Inc(std::uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Get() const { return value.load(std::memory_order_relaxed); }
};

struct Gauge {
  std::atomic<std::int64_t> value{0};
  void Set(std::int64_t v) { value.store(v, std::memory_order_relaxed); }
  void Add(std::int64_t d) { value.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t Get() const { return value.load(std::memory_order_relaxed); }
};

// Fixed-bucket latency histogram, lock-free. Buckets suit provider round
// trips from sub-millisecond (mock) to tens of seconds (timeouts).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBoundsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  void Observe(std::chrono::microseconds d);
  void AppendPrometheus(std::string& out, const std::string& name, const std::string& labels) const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Observations per bucket (not cumulative), the last one above every bound.
  std::array<std::uint64_t, kBoundsSeconds.size() + 1> Buckets() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

// What became of a delivery receipt (omnigate_receipts_total{result}).
enum class ReceiptOutcome : std::uint8_t {
  applied,        // recorded, its event emitted
  duplicate,      // the same webhook or status again: nothing changed
  unknown,        // no send with that provider id within the status retention
  ignored,        // provider progress (queued, processed): nothing to record
  bad_signature,  // 401, nothing changed
  malformed,      // 400
  unavailable,    // the state store did not answer: 503, the provider retries
};
inline constexpr std::size_t kReceiptOutcomeCount = 7;
std::string_view ReceiptOutcomeLabel(ReceiptOutcome o);

struct ProviderMetrics {
  std::string name;
  Channel channel = Channel::sms;
  Counter accepted;
  Counter retry;
  Counter throttled;
  Counter permanent;
  Counter invalid_address;
  LatencyHistogram latency;
  std::array<Counter, kReceiptOutcomeCount> receipts;
  // Shared by the workers' adapters of this provider; set by the pipeline
  // (absent in tests that build metrics alone).
  std::unique_ptr<providers::CircuitBreaker> breaker;
};

// omnigate_policy_decisions_total{decision,reason,tenant}. Tenants listed
// under policy.tenants are counted under their names, every other tenant as
// "_other": the label's values come from config, never from request data, so
// a publisher cannot grow the metric without bound.
class PolicyMetrics {
 public:
  static constexpr std::size_t kOutcomes = 12;  // policy::kOutcomeCount
  using Row = std::array<Counter, kOutcomes>;
  void Init(const std::vector<std::string>& configured_tenants);
  Row& For(std::string_view tenant);
  void AppendPrometheus(std::string& out) const;
  // Each outcome summed over the tenants.
  std::array<std::uint64_t, kOutcomes> Totals() const;

 private:
  std::vector<std::string> names_;  // sorted configured tenants, then "_other"
  std::unique_ptr<Row[]> rows_;
};

// The latest librdkafka statistics of the gateway's consumer and producer
// (kafka.statistics_interval): lag per assigned partition, broker round
// trips and state, the producer's local queue. Updated from the clients'
// polling threads, read by /metrics and /v1/stats.
class KafkaHealth {
 public:
  void Update(const queue::KafkaStats& stats);
  void AppendPrometheus(std::string& out) const;
  // Copies of the latest documents (type empty: none yet).
  queue::KafkaStats consumer() const;
  queue::KafkaStats producer() const;

 private:
  mutable std::mutex mu_;
  queue::KafkaStats consumer_;
  queue::KafkaStats producer_;
};

// Every counter of the gateway, declared once (STYLE.md: counters in a list,
// per component). Owned by main; shared by reference with the components
// that update it; read by /metrics. The provider list is fixed at start-up.
struct GatewayMetrics {
  Counter consumed_transactional;
  Counter consumed_bulk;
  Counter sent;       // final sent events
  Counter failed;     // final failed events
  Counter rejected;   // invalid requests (also in the DLQ)
  Counter expired;
  Counter retries;    // retrying events
  Counter fallbacks;  // fallback events
  Counter events_produced;
  Counter event_delivery_failures;
  Counter dlq_records;
  Counter commits;
  Counter commit_failures;
  Counter abandoned;  // requests given up on a revoked partition
  Counter dlq_truncated;      // DLQ copies cut to fit message.max.bytes
  Counter records_dropped;    // records Kafka refuses for good (too large even when cut)
  Counter redelivered_done;   // redelivered requests skipped: done before a restart/rebalance
  Counter schedule_too_far;   // send_at beyond pipeline.max_schedule_ahead (rejected)
  Counter duplicates;         // final duplicate events
  Counter suppressed;         // final suppressed events
  // Final events a receipt emitted: the receipt a cascade step waited for.
  Counter final_delivered;
  Counter final_read;
  Counter deferred;           // requests written to a durable timer (send_at, quiet hours, caps)
  Counter timers_fired;       // durable timers claimed and fired
  Counter state_unavailable;  // policy checks the state store could not answer (retried)
  Counter state_record_failures;  // sends accepted whose record the store did not take
  Counter status_write_failures;  // history writes of the status store that failed
  Counter receipt_suppressions;   // suppressions added by receipts
  // Receipt-timed cascade steps, by how they ended.
  Counter cascade_delivered;         // the wanted receipt came in time
  Counter cascade_receipt_failures;  // a failure receipt moved it on
  Counter cascade_timeouts;          // nothing in time: moved on
  Gauge state_up;             // 1 while the state store answers (or policy is off)
  PolicyMetrics policy;
  KafkaHealth kafka;
  Gauge oldest_parked_seconds;  // age of the longest-parked request (scheduled or backing off)
  Gauge parked;                 // requests parked on a timer (send_at or retry back-off)
  Gauge in_flight;    // consumed and not yet committed
  Gauge partitions_assigned;
  Gauge partitions_paused;
  Gauge held_back;  // fetched, held while over the in-flight limits, not yet handed over
  std::array<Counter, kChannelCount> sent_by_channel;
  std::vector<std::unique_ptr<ProviderMetrics>> providers;

  ProviderMetrics* FindProvider(std::string_view name) const;
  std::string RenderPrometheus() const;
  // GET /v1/stats: the same figures as one JSON document, for the dashboard
  // (docs/api.md). Counters are totals since start; the page turns them into
  // rates between two reads.
  std::string RenderStatsJson(std::int64_t now_ms) const;
};

}  // namespace omnigate::gateway
