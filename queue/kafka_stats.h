#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace omnigate::queue {

// What the gateway reads out of librdkafka's statistics (the JSON its
// stats_cb hands over every `statistics.interval.ms`; fields in librdkafka's
// STATISTICS.md): lag per fetched partition, round trips per broker, and the
// producer's local queue.
struct KafkaStats {
  struct Partition {
    std::string topic;
    std::int32_t partition = 0;
    // Records the gateway has not finished: the high watermark minus the
    // committed offset (librdkafka's consumer_lag, Kafka's own definition);
    // before the group's first commit, minus what was read.
    std::int64_t lag = 0;
    std::int64_t committed_offset = -1;
    std::int64_t high_watermark = -1;
  };
  struct Broker {
    std::string name;  // "host:port/node id"
    std::int32_t node_id = -1;
    bool up = false;
    // Request round trips over the last interval, seconds; 0 when none.
    double rtt_p50_seconds = 0;
    double rtt_p99_seconds = 0;
  };
  std::string type;  // "consumer" or "producer"
  std::vector<Partition> partitions;  // consumer: the partitions it fetches
  std::vector<Broker> brokers;        // the cluster's brokers (not bootstrap or internal entries)
  std::int64_t queued_messages = 0;   // producer: records not yet delivered
  std::int64_t queued_bytes = 0;
};

// Parses one statistics JSON document. Unknown fields are ignored; a
// document that is not JSON, or lacks the top-level `type`, is an error.
Result<KafkaStats, std::string> ParseKafkaStats(std::string_view json);

// Where a client hands each parsed statistics document: on the client's
// polling thread (the consumer's Poll, the producer's delivery thread), so
// it must be quick and thread-safe.
using KafkaStatsSink = std::function<void(const KafkaStats&)>;

// A client's statistics settings: off when `sink` is empty or `interval`
// is zero.
struct KafkaStatsOptions {
  std::chrono::milliseconds interval{0};
  KafkaStatsSink sink;
  bool enabled() const { return sink && interval.count() > 0; }
};

// The body of a stats_cb: parses and hands on one document; one that does
// not parse is logged (at most once a minute) and skipped.
void DeliverKafkaStats(const KafkaStatsSink& sink, std::string_view json);

}  // namespace omnigate::queue
