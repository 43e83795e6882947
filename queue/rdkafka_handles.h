#pragma once
// Private to queue/: the only header that includes librdkafka. RAII holders
// for its handles, so no public header exposes rdkafka.h.

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <memory>
#include <string>

#include "common/result.h"

namespace omnigate::queue::detail {

struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, KafkaDeleter>;

// Builds a conf from `defaults` overlaid with `overrides` (the user's raw
// properties win). The error names the property and librdkafka's reason.
Result<ConfPtr, std::string> MakeConf(const std::map<std::string, std::string>& defaults,
                                      const std::map<std::string, std::string>& overrides);

// Routes librdkafka's log lines to spdlog with the given instance name.
void InstallLogger(rd_kafka_conf_t* conf);

}  // namespace omnigate::queue::detail
