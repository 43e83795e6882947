#include "gateway/send_command.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <future>
#include <map>
#include <fstream>
#include <random>
#include <sstream>

#include "common/json.h"
#include "gateway/config.h"
#include "gateway/policy/policy.h"
#include "queue/kafka_consumer.h"
#include "queue/kafka_producer.h"

namespace omnigate::gateway {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> d;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(d(rd)));
  return buf;
}

void Field(std::string& out, const char* name, const std::string& value) {
  out += '"';
  out += name;
  out += "\":";
  AppendJsonString(value, out);
}

// Sees the consumer's assignment: the events topic is read from its end,
// so the command waits to be assigned before it publishes.
class AssignmentListener final : public queue::ConsumerListener {
 public:
  void OnAssigned(const std::vector<queue::TopicPartition>& p) override {
    partitions = p;
    assigned = !p.empty();
  }
  std::vector<queue::TopicPartition> OnRevoked(const std::vector<queue::TopicPartition>&) override {
    return {};
  }
  void OnCommitted(const std::vector<queue::TopicPartition>&, bool) override {}
  bool assigned = false;
  std::vector<queue::TopicPartition> partitions;
};

}  // namespace

std::string BuildRequestJson(const SendCommandOptions& o, std::string& error) {
  if (o.to.empty() && o.viber_to.empty()) {
    error = "--to: a phone number (+40700000001) or an email address is required";
    return {};
  }
  const bool email_address = o.to.find('@') != std::string::npos;
  // A number as people write it ("+40 700 000 123", "0040700000123") in
  // the E.164 form the gateway takes.
  std::string phone;
  if (!o.to.empty() && !email_address) {
    auto normal = policy::NormalizeAddress(Channel::sms, o.to);
    if (!normal) {
      error = "--to: " + normal.error();
      return {};
    }
    phone = std::move(normal).value();
  }
  std::vector<std::string> channels = o.channels;
  if (channels.empty()) {
    if (!o.sms.empty()) channels.push_back("sms");
    if (!o.viber.empty()) channels.push_back("viber");
    if (!o.email_subject.empty() || !o.email_text.empty()) channels.push_back("email");
  }
  if (channels.empty()) {
    error = "no content: give --sms, --viber or --email-subject/--email-text";
    return {};
  }
  std::string out = "{";
  Field(out, "id", o.id.empty() ? "cli-" + RandomSuffix() : o.id);
  if (!o.tenant.empty()) {
    out += ',';
    Field(out, "tenant", o.tenant);
  }
  out += ',';
  Field(out, "lane", o.lane);
  out += ",\"to\":{";
  bool first = true;
  auto to_field = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    if (!first) out += ',';
    first = false;
    Field(out, name, value);
  };
  to_field(email_address ? "email" : "phone", email_address ? o.to : phone);
  to_field("viber", o.viber_to.empty() ? phone : o.viber_to);
  out += "},\"channels\":[";
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(channels[i], out);
  }
  out += "],\"content\":{";
  first = true;
  auto section = [&](const char* name) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += name;
    out += "\":{";
  };
  if (!o.sms.empty()) {
    section("sms");
    Field(out, "text", o.sms);
    out += '}';
  }
  if (!o.viber.empty()) {
    section("viber");
    Field(out, "text", o.viber);
    out += '}';
  }
  if (!o.email_subject.empty() || !o.email_text.empty()) {
    section("email");
    Field(out, "subject", o.email_subject);
    out += ',';
    Field(out, "text", o.email_text);
    if (!o.email_from.empty()) {
      out += ',';
      Field(out, "from", o.email_from);
    }
    out += '}';
  }
  out += "}}";
  return out;
}

int SendCommand(const SendCommandOptions& o) {
  auto loaded = LoadKafkaConfigFile(o.config_path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return 2;
  }
  const KafkaConfig& kafka = *loaded;
  if (kafka.brokers == "embedded") {
    std::fprintf(stderr,
                 "kafka.brokers is \"embedded\": that broker lives inside `omnigate run`; point "
                 "the config at a broker address (the demo writes one: deploy/demo.sh)\n");
    return 2;
  }
  std::string request;
  if (!o.file.empty()) {
    std::ifstream in(o.file);
    if (!in) {
      std::fprintf(stderr, "--file: cannot read '%s'\n", o.file.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    request = ss.str();
  } else {
    std::string error;
    request = BuildRequestJson(o, error);
    if (request.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 2;
    }
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view id;
  if (parser.parse(request).get(doc) != simdjson::SUCCESS || doc["id"].get(id) != simdjson::SUCCESS) {
    std::fprintf(stderr, "the request is not JSON with an \"id\"\n");
    return 2;
  }
  const std::string request_id(id);
  std::string_view lane = o.lane;
  if (doc["lane"].get(lane) != simdjson::SUCCESS) lane = o.lane;  // a file without one
  const std::string& topic =
      lane == "bulk" ? kafka.topics.requests_bulk : kafka.topics.requests;

  // Declared before the consumer: closing it (on return) calls the
  // listener's OnRevoked.
  AssignmentListener listener;
  std::unique_ptr<queue::KafkaConsumer> events;
  std::map<std::int32_t, std::int64_t> start;  // per partition: the end before publishing
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  if (o.wait) {
    std::map<std::string, std::string> props = kafka.consumer_properties;
    // Earliest, and records older than the end measured below skipped: a
    // lazily resolved "latest" may land after our events and miss them.
    props["auto.offset.reset"] = "earliest";
    auto c = queue::KafkaConsumer::Create({.brokers = kafka.brokers,
                                           .group_id = "omnigate-send-" + RandomSuffix(),
                                           .client_id = "omnigate-send",
                                           .topics = {kafka.topics.events},
                                           .properties = props},
                                          &listener);
    if (!c) {
      std::fprintf(stderr, "%s\n", c.error().c_str());
      return 2;
    }
    events = std::move(c).value();
    std::vector<queue::KafkaMessage> ignored;
    while (!listener.assigned && std::chrono::steady_clock::now() < deadline) {
      events->Poll(ignored, 100, std::chrono::milliseconds(100));
    }
    // The end as it is now, before publishing: every event of ours lies
    // at or after it. Seeking there saves reading the topic's history.
    if (!listener.assigned || !events->QueryEndOffsets(listener.partitions, o.timeout)) {
      std::fprintf(stderr, "no answer from Kafka at %s within the timeout\n",
                   kafka.brokers.c_str());
      return 1;
    }
    events->Seek(listener.partitions);
    for (const auto& p : listener.partitions) start[p.partition] = p.offset;
  }
  // Told on the producer's delivery thread; declared before the producer,
  // which it must outlive.
  class Delivered final : public queue::DeliveryListener {
   public:
    void OnDelivery(bool ok, std::string_view error, queue::ProduceError) override {
      result.set_value(ok ? std::string() : "kafka did not take the request: " + std::string(error));
    }
    std::promise<std::string> result;
  } delivered;
  auto producer = queue::KafkaProducer::Create({.brokers = kafka.brokers,
                                                .client_id = "omnigate-send",
                                                .properties = kafka.producer_properties});
  if (!producer) {
    std::fprintf(stderr, "%s\n", producer.error().c_str());
    return 2;
  }
  auto outcome = delivered.result.get_future();
  std::string produce_error;
  if (!(*producer)->Produce(topic, request_id, request, {}, &delivered, &produce_error)) {
    std::fprintf(stderr, "kafka refused the request: %s\n", produce_error.c_str());
    return 1;
  }
  if (outcome.wait_until(deadline) != std::future_status::ready) {
    std::fprintf(stderr, "kafka did not acknowledge the request within the timeout\n");
    return 1;
  }
  if (const std::string error = outcome.get(); !error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "published %s to %s\n", request_id.c_str(), topic.c_str());
  if (!o.wait) return 0;

  // Its events, as they come, until the final one.
  std::vector<queue::KafkaMessage> batch;
  while (std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    events->Poll(batch, 500, std::chrono::milliseconds(200));
    for (const auto& m : batch) {
      const auto from = start.find(m.partition());
      if (m.key() != request_id || (from != start.end() && m.offset() < from->second)) continue;
      simdjson::dom::element e;
      std::string_view event_id;
      if (parser.parse(m.payload().data(), m.payload().size()).get(e) != simdjson::SUCCESS ||
          e["id"].get(event_id) != simdjson::SUCCESS || event_id != request_id) {
        continue;
      }
      std::printf("%.*s\n", static_cast<int>(m.payload().size()), m.payload().data());
      std::fflush(stdout);
      bool final = false;
      std::string_view status;
      if (e["final"].get(final) == simdjson::SUCCESS && final) {
        const bool good = e["status"].get(status) == simdjson::SUCCESS &&
                          (status == "sent" || status == "delivered" || status == "read");
        return good ? 0 : 1;
      }
    }
  }
  std::fprintf(stderr, "no final event for %s within the timeout\n", request_id.c_str());
  return 1;
}

}  // namespace omnigate::gateway
