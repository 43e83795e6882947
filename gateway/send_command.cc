#include "gateway/send_command.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <future>
#include <fstream>
#include <map>
#include <optional>
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

// Sees the consumer's assignment: the events topic is read from known
// positions, so a command waits to be assigned before it reads.
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

// A reader of the events topic in a group of its own, from the earliest
// record, with each partition's end as it was when the reader was
// assigned. The listener is a member declared before the consumer:
// closing the consumer (on destruction) calls its OnRevoked.
struct EventsReader {
  AssignmentListener listener;
  std::unique_ptr<queue::KafkaConsumer> consumer;
  std::map<std::int32_t, std::int64_t> end;  // per partition, when assigned

  // An error message, empty on success.
  std::string Open(const KafkaConfig& kafka, const char* client_id,
                   std::chrono::steady_clock::time_point deadline) {
    std::map<std::string, std::string> props = kafka.consumer_properties;
    // Earliest, not "latest": a lazily resolved "latest" may land after
    // records written meanwhile and miss them.
    props["auto.offset.reset"] = "earliest";
    props["enable.auto.commit"] = "false";
    auto c = queue::KafkaConsumer::Create({.brokers = kafka.brokers,
                                           .group_id = std::string(client_id) + "-" + RandomSuffix(),
                                           .client_id = client_id,
                                           .topics = {kafka.topics.events},
                                           .properties = props},
                                          &listener);
    if (!c) return c.error();
    consumer = std::move(c).value();
    std::vector<queue::KafkaMessage> ignored;
    while (!listener.assigned && std::chrono::steady_clock::now() < deadline) {
      consumer->Poll(ignored, 100, std::chrono::milliseconds(100));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!listener.assigned || left.count() <= 0 ||
        !consumer->QueryEndOffsets(listener.partitions, left)) {
      return "no answer from Kafka at " + kafka.brokers + " within the timeout";
    }
    for (const auto& p : listener.partitions) end[p.partition] = p.offset;
    return {};
  }

  // Moves every partition to its end as measured by Open: what follows
  // was written after it.
  void SkipToEnd() { consumer->Seek(listener.partitions); }
};

// The request's event in `m`, parsed into `e`, or false when `m` is
// another request's.
bool EventOf(simdjson::dom::parser& parser, const queue::KafkaMessage& m, std::string_view id,
             simdjson::dom::element& e) {
  std::string_view event_id;
  return m.key() == id &&
         parser.parse(m.payload().data(), m.payload().size()).get(e) == simdjson::SUCCESS &&
         e["id"].get(event_id) == simdjson::SUCCESS && event_id == id;
}

bool GoodFinal(simdjson::dom::element e) {
  std::string_view status;
  return e["status"].get(status) == simdjson::SUCCESS &&
         (status == "sent" || status == "delivered" || status == "read");
}

void PrintPayload(const queue::KafkaMessage& m) {
  std::printf("%.*s\n", static_cast<int>(m.payload().size()), m.payload().data());
  std::fflush(stdout);
}

// The kafka section of the config, refused when its broker lives inside
// `omnigate run`.
std::optional<KafkaConfig> KafkaFrom(const std::string& config_path) {
  auto loaded = LoadKafkaConfigFile(config_path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return std::nullopt;
  }
  if (loaded->brokers == "embedded") {
    std::fprintf(stderr,
                 "kafka.brokers is \"embedded\": that broker lives inside `omnigate run`; point "
                 "the config at a broker address (the demo writes one: deploy/demo.sh)\n");
    return std::nullopt;
  }
  return std::move(loaded).value();
}

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
  const auto loaded = KafkaFrom(o.config_path);
  if (!loaded) return 2;
  const KafkaConfig& kafka = *loaded;
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

  EventsReader events;
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  if (o.wait) {
    if (const std::string error = events.Open(kafka, "omnigate-send", deadline); !error.empty()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    // Every event of ours lies at or after the end measured before
    // publishing: seeking there saves reading the topic's history.
    events.SkipToEnd();
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
    events.consumer->Poll(batch, 500, std::chrono::milliseconds(200));
    for (const auto& m : batch) {
      const auto from = events.end.find(m.partition());
      if (from != events.end.end() && m.offset() < from->second) continue;
      simdjson::dom::element e;
      if (!EventOf(parser, m, request_id, e)) continue;
      PrintPayload(m);
      bool final = false;
      if (e["final"].get(final) == simdjson::SUCCESS && final) return GoodFinal(e) ? 0 : 1;
    }
  }
  std::fprintf(stderr, "no final event for %s within the timeout\n", request_id.c_str());
  return 1;
}

}  // namespace omnigate::gateway

namespace omnigate::gateway {

int StatusCommand(const StatusCommandOptions& o) {
  if (o.id.empty()) {
    std::fprintf(stderr, "status: a request id is required\n");
    return 2;
  }
  const auto loaded = KafkaFrom(o.config_path);
  if (!loaded) return 2;
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  EventsReader events;
  if (const std::string error = events.Open(*loaded, "omnigate-status", deadline); !error.empty()) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  // Everything up to the end measured at the start: the request's history
  // as it stands now. Partitions already at their end need no reading.
  std::map<std::int32_t, std::int64_t> left;
  for (const auto& [partition, end] : events.end) {
    if (end > 0) left[partition] = end;
  }
  simdjson::dom::parser parser;
  std::vector<queue::KafkaMessage> batch;
  std::size_t found = 0;
  bool final = false;
  bool good = false;
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    events.consumer->Poll(batch, 1000, std::chrono::milliseconds(200));
    for (const auto& m : batch) {
      const auto it = left.find(m.partition());
      if (it == left.end() || m.offset() >= it->second) continue;
      if (m.offset() + 1 >= it->second) left.erase(it);
      simdjson::dom::element e;
      if (!o.tenant.empty()) {
        std::string_view tenant;
        if (!EventOf(parser, m, o.id, e) || e["tenant"].get(tenant) != simdjson::SUCCESS ||
            tenant != o.tenant) {
          continue;
        }
      } else if (!EventOf(parser, m, o.id, e)) {
        continue;
      }
      PrintPayload(m);
      ++found;
      bool is_final = false;
      // The first final event is the request's outcome; a later one is
      // a repeat's (a `duplicate`), printed but not its outcome.
      if (e["final"].get(is_final) == simdjson::SUCCESS && is_final && !final) {
        final = true;
        good = GoodFinal(e);
      }
    }
  }
  if (!left.empty()) {
    std::fprintf(stderr, "status: the events topic was not read to its end within the timeout\n");
    return 1;
  }
  if (found == 0) {
    std::fprintf(stderr, "status: no events for %s in %s\n", o.id.c_str(),
                 loaded->topics.events.c_str());
    return 1;
  }
  if (!final) std::fprintf(stderr, "status: %s has no final event yet\n", o.id.c_str());
  return final && good ? 0 : 1;
}

}  // namespace omnigate::gateway
