#include "queue/kafka_stats.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace omnigate::queue {
namespace {

std::int64_t IntOr(simdjson::dom::object o, std::string_view field, std::int64_t fallback) {
  std::int64_t v = 0;
  return o[field].get(v) == simdjson::SUCCESS ? v : fallback;
}

double Seconds(simdjson::dom::object window, std::string_view field) {
  std::int64_t us = 0;
  if (window[field].get(us) != simdjson::SUCCESS || us < 0) return 0;
  return static_cast<double>(us) / 1e6;
}

}  // namespace

Result<KafkaStats, std::string> ParseKafkaStats(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (const auto e = parser.parse(json.data(), json.size()).get(root); e != simdjson::SUCCESS) {
    return MakeUnexpected(std::string("kafka statistics: not JSON (") +
                          simdjson::error_message(e) + ")");
  }
  KafkaStats out;
  std::string_view type;
  if (root["type"].get(type) != simdjson::SUCCESS) {
    return MakeUnexpected(std::string("kafka statistics: no \"type\""));
  }
  out.type = type;
  out.queued_messages = IntOr(root, "msg_cnt", 0);
  out.queued_bytes = IntOr(root, "msg_size", 0);

  simdjson::dom::object brokers;
  if (root["brokers"].get(brokers) == simdjson::SUCCESS) {
    for (auto [key, value] : brokers) {
      simdjson::dom::object b;
      if (value.get(b) != simdjson::SUCCESS) continue;
      KafkaStats::Broker broker;
      broker.node_id = static_cast<std::int32_t>(IntOr(b, "nodeid", -1));
      // Bootstrap entries and the internal broker have no node id; the
      // logical ones (GroupCoordinator) stand for a real broker listed too.
      std::string_view source;
      if (broker.node_id < 0 ||
          (b["source"].get(source) == simdjson::SUCCESS && source == "logical")) {
        continue;
      }
      std::string_view name;
      broker.name = b["name"].get(name) == simdjson::SUCCESS ? name : key;
      std::string_view state;
      broker.up = b["state"].get(state) == simdjson::SUCCESS && state == "UP";
      simdjson::dom::object rtt;
      if (b["rtt"].get(rtt) == simdjson::SUCCESS) {
        broker.rtt_p50_seconds = Seconds(rtt, "p50");
        broker.rtt_p99_seconds = Seconds(rtt, "p99");
      }
      out.brokers.push_back(std::move(broker));
    }
  }

  simdjson::dom::object topics;
  if (out.type == "consumer" && root["topics"].get(topics) == simdjson::SUCCESS) {
    for (auto [topic_name, topic_value] : topics) {
      simdjson::dom::object partitions;
      if (topic_value["partitions"].get(partitions) != simdjson::SUCCESS) continue;
      for (auto [pkey, pvalue] : partitions) {
        simdjson::dom::object p;
        if (pvalue.get(p) != simdjson::SUCCESS) continue;
        const std::int64_t id = IntOr(p, "partition", -1);
        std::string_view fetch_state;
        // -1 is librdkafka's unassigned placeholder; "none" is a partition
        // this member does not fetch.
        if (id < 0 || p["fetch_state"].get(fetch_state) != simdjson::SUCCESS ||
            fetch_state == "none") {
          continue;
        }
        // Kafka's own lag (log end minus the committed offset: what the
        // gateway has not finished); before the group's first commit, what
        // it has not read yet.
        std::int64_t lag = IntOr(p, "consumer_lag", -1);
        const std::int64_t high = IntOr(p, "hi_offset", -1);
        const std::int64_t read_up_to = IntOr(p, "app_offset", -1);
        if (lag < 0 && high >= 0 && read_up_to >= 0) lag = std::max<std::int64_t>(0, high - read_up_to);
        if (lag < 0) continue;  // not known yet
        out.partitions.push_back({.topic = std::string(topic_name),
                                  .partition = static_cast<std::int32_t>(id),
                                  .lag = lag,
                                  .committed_offset = IntOr(p, "committed_offset", -1),
                                  .high_watermark = IntOr(p, "hi_offset", -1)});
      }
    }
  }
  return out;
}

void DeliverKafkaStats(const KafkaStatsSink& sink, std::string_view json) {
  auto stats = ParseKafkaStats(json);
  if (stats) {
    sink(*stats);
    return;
  }
  static std::atomic<std::int64_t> last_logged{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = last_logged.load(std::memory_order_relaxed);
  if (now - last >= 60 && last_logged.compare_exchange_strong(last, now)) {
    spdlog::warn("{}; lag and broker metrics are not updated from it", stats.error());
  }
}

}  // namespace omnigate::queue
