#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "queue/kafka_stats.h"

struct rd_kafka_s;

namespace omnigate::queue {

struct ProducerOptions {
  std::string brokers;
  std::string client_id = "omnigate";
  // librdkafka's compression.type: none, gzip, snappy, lz4 or zstd.
  std::string compression = "lz4";
  // Raw librdkafka properties; they override the defaults chosen here
  // (idempotence on, acks=all, linger 2 ms, `compression`).
  std::map<std::string, std::string> properties;
  // The local queue and broker round trips (statistics.interval.ms).
  KafkaStatsOptions statistics;
};

struct RecordHeader {
  std::string_view name;
  std::string_view value;
};

// Why a record was not taken. `too_large` never goes away by retrying the
// same bytes (the record is over message.max.bytes, ours or the broker's).
enum class ProduceError : std::uint8_t { none, retriable, too_large };

// Told once per produced record whether Kafka acknowledged it. Runs on the
// producer's delivery thread: implementations hand the result to their own
// thread and return quickly.
class DeliveryListener {
 public:
  // `kind` is none when ok, else why it failed.
  virtual void OnDelivery(bool ok, std::string_view error, ProduceError kind) = 0;

  virtual ~DeliveryListener() = default;
};

struct ProducerStats {
  std::atomic<std::uint64_t> produced{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
};

// An idempotent Kafka producer shared by all workers. Owns the rd_kafka_t and
// a delivery thread that serves delivery reports. Produce() is thread-safe and
// never blocks. Destruction flushes (bounded) and joins the delivery thread.
class KafkaProducer {
 public:
  static Result<std::unique_ptr<KafkaProducer>, std::string> Create(const ProducerOptions& options);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Enqueues one record. `listener` (may be null) is told of the outcome
  // exactly once, unless this returns false, in which case it is never told
  // and `error` says why (e.g. the local queue is full).
  bool Produce(std::string_view topic, std::string_view key, std::string_view value,
               std::span<const RecordHeader> headers, DeliveryListener* listener,
               std::string* error = nullptr, ProduceError* kind = nullptr);

  // The producer's message.max.bytes: a record whose key, value and headers
  // come near it is refused (ProduceError::too_large).
  std::size_t max_message_bytes() const { return max_message_bytes_; }

  // Waits up to `timeout` for every enqueued record to be acknowledged.
  // Returns the number still outstanding.
  int Flush(std::chrono::milliseconds timeout);

  // Fetches `topic`'s metadata now, so that the first record produced to it
  // does not wait for a metadata round trip (~0.7 s on the mock cluster).
  // False when the topic is unknown or the brokers did not answer in time.
  bool WarmUp(std::string_view topic, std::chrono::milliseconds timeout);

  const ProducerStats& stats() const { return stats_; }

 private:
  KafkaProducer() = default;
  void DeliveryLoop();

  rd_kafka_s* rk_ = nullptr;
  std::size_t max_message_bytes_ = 1'000'000;
  std::atomic<bool> stop_{false};
  std::thread delivery_thread_;
  ProducerStats stats_;
  KafkaStatsSink stats_sink_;
  friend struct ProducerCallbacks;
};

}  // namespace omnigate::queue
