#include "queue/embedded_broker.h"


#include <cstdio>
#include <fstream>

#include "queue/rdkafka_handles.h"

namespace omnigate::queue {

Result<std::unique_ptr<EmbeddedBroker>, std::string> EmbeddedBroker::Start(
    const EmbeddedBrokerOptions& options) {
  if (options.brokers < 1 || options.partitions < 1) {
    return MakeUnexpected(std::string("embedded kafka: brokers and partitions must be >= 1"));
  }
  // The host handle never connects anywhere; quiet its "no bootstrap.servers" warning.
  auto conf = detail::MakeConf({{"client.id", "omnigate-embedded-kafka"}, {"log_level", "3"}}, {});
  if (!conf) return MakeUnexpected(conf.error());
  std::unique_ptr<EmbeddedBroker> self(new EmbeddedBroker());
  char err[512];
  self->host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (self->host_ == nullptr) return MakeUnexpected(std::string("embedded kafka: ") + err);
  conf->release();
  self->cluster_ = rd_kafka_mock_cluster_new(self->host_, options.brokers);
  if (self->cluster_ == nullptr) {
    return MakeUnexpected(std::string("embedded kafka: could not start the mock cluster"));
  }
  const int replication = options.brokers >= 3 ? 3 : options.brokers;
  for (const auto& topic : options.topics) {
    const auto e =
        rd_kafka_mock_topic_create(self->cluster_, topic.c_str(), options.partitions, replication);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return MakeUnexpected("embedded kafka: creating topic '" + topic +
                            "': " + rd_kafka_err2str(e));
    }
  }
  self->bootstrap_ = rd_kafka_mock_cluster_bootstraps(self->cluster_);
  return self;
}

EmbeddedBroker::~EmbeddedBroker() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (host_ != nullptr) rd_kafka_destroy(host_);
}

bool WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << content;
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace omnigate::queue
