#include "queue/kafka_producer.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <vector>

#include "common/thread_name.h"
#include "queue/rdkafka_handles.h"

namespace omnigate::queue {
namespace {

ProduceError Classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return ProduceError::none;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return ProduceError::too_large;
    default:
      return ProduceError::retriable;
  }
}

}  // namespace

struct ProducerCallbacks {
  static void DeliveryReport(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
    auto& stats = static_cast<KafkaProducer*>(opaque)->stats_;
    const bool ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    (ok ? stats.delivered : stats.failed).fetch_add(1, std::memory_order_relaxed);
    if (auto* listener = static_cast<DeliveryListener*>(msg->_private)) {
      listener->OnDelivery(ok, ok ? std::string_view{} : rd_kafka_err2str(msg->err),
                           Classify(msg->err));
    }
  }
  static int Statistics(rd_kafka_t* /*rk*/, char* json, std::size_t json_len, void* opaque) {
    DeliverKafkaStats(static_cast<KafkaProducer*>(opaque)->stats_sink_,
                      std::string_view(json, json_len));
    return 0;  // librdkafka frees the document
  }
};

Result<std::unique_ptr<KafkaProducer>, std::string> KafkaProducer::Create(
    const ProducerOptions& options) {
  std::map<std::string, std::string> defaults = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      // Idempotence: retries inside librdkafka never duplicate or reorder
      // events, so an event's seq order on the topic is its production order.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "2"},
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "1000000"},
      {"queue.buffering.max.kbytes", "1048576"},
      {"compression.type", options.compression},
      // How long librdkafka keeps retrying before reporting a delivery failure;
      // the pipeline then retries itself, so this only bounds one attempt.
      {"message.timeout.ms", "30000"},
  };
  if (options.statistics.enabled()) {
    defaults["statistics.interval.ms"] = std::to_string(options.statistics.interval.count());
  }
  auto conf = detail::MakeConf(defaults, options.properties);
  if (!conf) return MakeUnexpected(conf.error());
  std::unique_ptr<KafkaProducer> self(new KafkaProducer());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), ProducerCallbacks::DeliveryReport);
  if (options.statistics.enabled()) {
    self->stats_sink_ = options.statistics.sink;
    rd_kafka_conf_set_stats_cb(conf->get(), ProducerCallbacks::Statistics);
  }
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  char value[64];
  std::size_t value_size = sizeof value;
  if (rd_kafka_conf_get(conf->get(), "message.max.bytes", value, &value_size) ==
      RD_KAFKA_CONF_OK) {
    self->max_message_bytes_ = static_cast<std::size_t>(std::strtoull(value, nullptr, 10));
  }
  char err[512];
  self->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (self->rk_ == nullptr) return MakeUnexpected(std::string("kafka producer: ") + err);
  conf->release();  // owned by rk_ now
  self->delivery_thread_ = std::thread([p = self.get()] {
    SetThreadName("og-kafka-acks");
    p->DeliveryLoop();
  });
  return self;
}

KafkaProducer::~KafkaProducer() {
  if (rk_ == nullptr) return;
  const int left = Flush(std::chrono::seconds(10));
  if (left > 0) {
    spdlog::warn("kafka producer: {} records not acknowledged at shutdown", left);
  }
  stop_.store(true);
  if (delivery_thread_.joinable()) delivery_thread_.join();
  rd_kafka_destroy(rk_);
}

void KafkaProducer::DeliveryLoop() {
  while (!stop_.load(std::memory_order_relaxed)) rd_kafka_poll(rk_, 50);
  rd_kafka_poll(rk_, 0);
}

bool KafkaProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                            std::span<const RecordHeader> headers, DeliveryListener* listener,
                            std::string* error, ProduceError* kind) {
  std::string topic_name(topic);
  rd_kafka_headers_t* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& h : headers) {
      rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
  }
  rd_kafka_vu_t vus[6];
  std::size_t n = 0;
  vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[n++].u.cstr = topic_name.c_str();
  vus[n].vtype = RD_KAFKA_VTYPE_KEY;
  vus[n].u.mem.ptr = const_cast<char*>(key.data());  // NOLINT: copied (MSG_F_COPY)
  vus[n++].u.mem.size = key.size();
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = const_cast<char*>(value.data());  // NOLINT: copied (MSG_F_COPY)
  vus[n++].u.mem.size = value.size();
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[n++].u.ptr = listener;
  if (hdrs != nullptr) {
    vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[n++].u.headers = hdrs;
  }
  rd_kafka_error_t* e = rd_kafka_produceva(rk_, vus, n);
  if (e != nullptr) {
    if (kind != nullptr) *kind = Classify(rd_kafka_error_code(e));
    if (error != nullptr) {
      *error = rd_kafka_error_string(e);
      if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        *error += " (Hint: raise kafka.producer queue.buffering.max.messages)";
      }
    }
    rd_kafka_error_destroy(e);
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
    return false;
  }
  stats_.produced.fetch_add(1, std::memory_order_relaxed);
  return true;
}

int KafkaProducer::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
  return rd_kafka_outq_len(rk_);
}

bool KafkaProducer::WarmUp(std::string_view topic, std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, std::string(topic).c_str(), nullptr);
  if (rkt == nullptr) return false;
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk_, 0, rkt, &md, static_cast<int>(timeout.count()));
  bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && md != nullptr && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return ok;
}

}  // namespace omnigate::queue
