#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace omnigate::queue {

struct EmbeddedBrokerOptions {
  int brokers = 1;
  int partitions = 16;
  std::vector<std::string> topics;
};

// librdkafka's in-process mock cluster: the real Kafka protocol on loopback
// TCP, in memory (DESIGN.md §9 lists its limits). For the demo and tests;
// production uses a real cluster. Owns the cluster and the handle that hosts
// it; the cluster's threads stop when this is destroyed.
class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>, std::string> Start(
      const EmbeddedBrokerOptions& options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,127.0.0.1:PORT...]" for clients, ours and external ones.
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  EmbeddedBroker() = default;
  rd_kafka_s* host_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

// Writes `content` to `path` atomically (temp file + rename), so a reader
// polling for the file never sees it half-written.
bool WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace omnigate::queue
