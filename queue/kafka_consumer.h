#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "queue/kafka_message.h"
#include "queue/kafka_stats.h"

struct rd_kafka_s;

namespace omnigate::queue {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1001;  // RD_KAFKA_OFFSET_INVALID: "use the committed offset"
  // Committed with the offset, and read back with it on assignment
  // (OffsetCommit/OffsetFetch metadata).
  std::string metadata;
  bool operator==(const TopicPartition&) const = default;
};

// Told of group membership changes and commit results. Called on the thread
// that calls KafkaConsumer::Poll, from inside Poll.
class ConsumerListener {
 public:
  // The partitions now owned, each with its committed offset and metadata
  // when the group coordinator answered in time (offset -1001 otherwise).
  // The consumer starts fetching them, unpaused, when this returns.
  virtual void OnAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // The partitions about to be taken away. Return the offsets that are safe to
  // commit for them (after finishing or abandoning in-flight work); they are
  // committed synchronously before the partitions are released.
  virtual std::vector<TopicPartition> OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // The result of a commit issued by CommitAsync: offsets as committed.
  virtual void OnCommitted(const std::vector<TopicPartition>& offsets, bool ok) = 0;

  virtual ~ConsumerListener() = default;
};

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::string client_id = "omnigate";
  std::vector<std::string> topics;
  // Raw librdkafka properties overriding the defaults chosen here (manual
  // commits, no auto offset store, earliest reset).
  std::map<std::string, std::string> properties;
  // Lag per partition and broker round trips (statistics.interval.ms).
  KafkaStatsOptions statistics;
};

// A consumer-group member with manual offset management. Owns the rd_kafka_t.
// Poll, Pause, Resume and Close run on one thread (the consumer thread);
// CommitAsync may be called from any thread.
class KafkaConsumer {
 public:
  static Result<std::unique_ptr<KafkaConsumer>, std::string> Create(const ConsumerOptions& options,
                                                                    ConsumerListener* listener);
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Appends up to `max` records to `out`, waiting at most `timeout` for the
  // first. Serves rebalance and commit callbacks, and returns right after a
  // rebalance so that records read before it are never mistaken for records
  // of a later assignment of the same partition.
  std::size_t Poll(std::vector<KafkaMessage>& out, std::size_t max,
                   std::chrono::milliseconds timeout);

  void Pause(const std::vector<TopicPartition>& partitions);
  // Sets the fetch position of assigned partitions to each entry's offset
  // (records from there on are fetched again, after a Resume if paused).
  void Seek(const std::vector<TopicPartition>& positions);
  void Resume(const std::vector<TopicPartition>& partitions);
  // Sets each entry's offset to its partition's end (high watermark), asked
  // of the brokers. False when one did not answer within `timeout`.
  bool QueryEndOffsets(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout);

  // Commits `offsets` (next offset to consume, per partition) without
  // waiting. The result reaches ConsumerListener::OnCommitted from Poll.
  void CommitAsync(const std::vector<TopicPartition>& offsets);

  // Leaves the group: revokes (ConsumerListener::OnRevoked, synchronous
  // commit) and closes. Idempotent.
  void Close();

  // Asks a broker for the request topics' metadata, waiting at most
  // `timeout`: false when no broker answered (down, frozen, unreachable).
  // Thread-safe.
  bool BrokerReachable(std::chrono::milliseconds timeout);

  // The Kafka error of the last fatal condition, empty if none.
  const std::string& fatal_error() const { return fatal_error_; }

 private:
  KafkaConsumer() = default;
  friend struct ConsumerCallbacks;

  rd_kafka_s* rk_ = nullptr;
  ConsumerListener* listener_ = nullptr;
  KafkaStatsSink stats_sink_;
  bool closed_ = false;
  bool rebalanced_ = false;  // set by the rebalance callback during Poll
  std::string fatal_error_;
};

}  // namespace omnigate::queue
