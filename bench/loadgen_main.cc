// omnigate-loadgen: publishes send requests to Kafka at a fixed rate or as
// fast as the broker takes them, with a configurable mix, and stamps each
// request id with its publish time so that latency can be measured from the
// events alone: id = "<prefix>-<seq>-<publish unix µs>".
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "queue/kafka_producer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string brokers;
  std::uint64_t count = 100'000;
  double rate = 0;  // requests/s; 0 = as fast as possible
  std::string topic = "omnigate.requests";
  std::string bulk_topic = "omnigate.requests.bulk";
  std::map<std::string, double> mix = {{"sms", 1.0}};
  double cascade_ratio = 0;  // of sms requests: viber first, sms fallback
  double bulk_ratio = 0;
  double dup_ratio = 0;
  double invalid_ratio = 0;
  int text_bytes = 40;
  std::vector<std::string> push_keys;
  std::string id_prefix = "b";
  std::uint64_t seed = 1;
  bool quiet = false;
};

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Generator {
 public:
  explicit Generator(const Options& o) : o_(o), rng_(o.seed) {
    double total = 0;
    for (const auto& [channel, weight] : o.mix) total += weight;
    double acc = 0;
    for (const auto& [channel, weight] : o.mix) {
      acc += weight / total;
      cumulative_.emplace_back(acc, channel);
    }
    text_.assign(static_cast<std::size_t>(o.text_bytes), 'x');
    for (std::size_t i = 0; i < text_.size(); i += 7) text_[i] = ' ';
  }

  // Fills topic, key and value for request number `seq`.
  void Next(std::uint64_t seq, std::string& topic, std::string& key, std::string& value) {
    const double r = uniform_(rng_);
    const bool bulk = uniform_(rng_) < o_.bulk_ratio;
    topic = bulk ? o_.bulk_topic : o_.topic;
    const std::uint64_t n = rng_() % 10'000'000;
    key = fmt::format("+4070{:07}", n);
    std::string id;
    if (seq > 0 && uniform_(rng_) < o_.dup_ratio) {
      id = last_id_;  // a repeat of an earlier request: same idempotency key
    } else {
      id = fmt::format("{}-{}-{}", o_.id_prefix, seq, NowMicros());
      last_id_ = id;
    }
    if (r < o_.invalid_ratio) {
      value = fmt::format(R"({{"id":"{}","to":{{"phone":"07{:07}"}},"channels":["sms"],)"
                          R"("content":{{"sms":{{"text":"invalid phone"}}}}}})",
                          id, n);
      return;
    }
    const double pick = uniform_(rng_);
    std::string channel = cumulative_.back().second;
    for (const auto& [edge, name] : cumulative_) {
      if (pick <= edge) {
        channel = name;
        break;
      }
    }
    if (channel == "sms" && uniform_(rng_) < o_.cascade_ratio) {
      value = fmt::format(
          R"({{"id":"{}","tenant":"bench","to":{{"phone":"{}","viber":"vb-{}"}},)"
          R"("channels":["viber","sms"],"cascade":{{"viber":{{"wait_for":"sent","timeout":"10m"}}}},)"
          R"("content":{{"viber":{{"text":"{}"}},"sms":{{"text":"{}"}}}}}})",
          id, key, n, text_, text_);
    } else if (channel == "sms") {
      value = fmt::format(R"({{"id":"{}","tenant":"bench","to":{{"phone":"{}"}},)"
                          R"("channels":["sms"],"content":{{"sms":{{"text":"{}"}}}}}})",
                          id, key, text_);
    } else if (channel == "email") {
      value = fmt::format(
          R"({{"id":"{}","tenant":"bench","to":{{"email":"u{}@example.com"}},"channels":["email"],)"
          R"("content":{{"email":{{"from":"Shop <noreply@shop.example>","subject":"Order {}",)"
          R"("text":"{}","html":"<p>{}</p>"}}}}}})",
          id, n, n, text_, text_);
    } else if (channel == "viber") {
      value = fmt::format(R"({{"id":"{}","tenant":"bench","to":{{"viber":"vb-{}"}},)"
                          R"("channels":["viber"],"content":{{"viber":{{"text":"{}"}}}}}})",
                          id, n, text_);
    } else {  // webpush
      const std::string& p256dh =
          o_.push_keys.empty() ? empty_ : o_.push_keys[rng_() % o_.push_keys.size()];
      value = fmt::format(
          R"({{"id":"{}","tenant":"bench","to":{{"webpush":{{"endpoint":"https://push.example.net/push/{}",)"
          R"("p256dh":"{}","auth":"AAECAwQFBgcICQoLDA0ODw"}}}},"channels":["webpush"],)"
          R"("content":{{"webpush":{{"title":"Order {}","body":"{}"}}}}}})",
          id, n, p256dh, n, text_);
    }
  }

 private:
  const Options& o_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  std::vector<std::pair<double, std::string>> cumulative_;
  std::string text_;
  std::string last_id_;
  std::string empty_;
};

class Counter final : public omnigate::queue::DeliveryListener {
 public:
  void OnDelivery(bool ok, std::string_view, omnigate::queue::ProduceError) override {
    (ok ? ok_ : failed_).fetch_add(1);
  }
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Publishes Omnigate send requests to Kafka for benchmarks"};
  app.add_option("--brokers", o.brokers, "Kafka bootstrap servers")->required();
  app.add_option("--count", o.count, "Requests to publish");
  app.add_option("--rate", o.rate, "Requests per second (0 = as fast as possible)");
  app.add_option("--topic", o.topic, "Transactional-lane topic");
  app.add_option("--bulk-topic", o.bulk_topic, "Bulk-lane topic");
  std::vector<std::string> mix;
  app.add_option("--mix", mix, "Channel weights, e.g. sms=0.6,email=0.2,viber=0.1,webpush=0.1")
      ->delimiter(',');
  app.add_option("--cascade-ratio", o.cascade_ratio, "Share of SMS requests sent Viber-first")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--bulk-ratio", o.bulk_ratio, "Share published to the bulk topic")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--dup-ratio", o.dup_ratio, "Share repeating the previous id")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--invalid-ratio", o.invalid_ratio, "Share of invalid requests")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--text-bytes", o.text_bytes, "Message text size")->check(CLI::Range(1, 4000));
  app.add_option("--push-key", o.push_keys, "Subscription p256dh key (repeatable)");
  app.add_option("--id-prefix", o.id_prefix, "Request id prefix");
  app.add_option("--seed", o.seed, "Random seed");
  app.add_flag("--quiet", o.quiet, "No progress line");
  int linger_ms = -1;
  app.add_option("--linger-ms", linger_ms,
                 "Producer linger.ms (default 1 at a fixed rate, where batching delay counts as "
                 "latency; 5, librdkafka's default, otherwise)")
      ->check(CLI::Range(0, 1000));
  CLI11_PARSE(app, argc, argv);
  if (linger_ms < 0) linger_ms = o.rate > 0 ? 1 : 5;
  if (!mix.empty()) o.mix.clear();
  for (const auto& item : mix) {
    const auto eq = item.find('=');
    char* end = nullptr;
    const double w = eq == std::string::npos ? -1 : std::strtod(item.c_str() + eq + 1, &end);
    if (eq == std::string::npos || end == nullptr || *end != '\0' || w < 0) {
      std::fprintf(stderr, "--mix: expected channel=weight, got '%s'\n", item.c_str());
      return 2;
    }
    o.mix[item.substr(0, eq)] = w;
  }
  for (const auto& [channel, weight] : o.mix) {
    if (channel != "sms" && channel != "email" && channel != "viber" && channel != "webpush") {
      std::fprintf(stderr, "--mix: unknown channel '%s' (sms, email, viber, webpush)\n",
                   channel.c_str());
      return 2;
    }
    if (channel == "webpush" && weight > 0 && o.push_keys.empty()) {
      std::fprintf(stderr, "--mix webpush needs at least one --push-key\n");
      return 2;
    }
  }

  auto producer = omnigate::queue::KafkaProducer::Create(
      {.brokers = o.brokers,
       .client_id = "omnigate-loadgen",
       // At a fixed rate, batching delay would count as gateway latency.
       .properties = {{"queue.buffering.max.messages", "1000000"},
                      {"queue.buffering.max.kbytes", "1048576"},
                      {"linger.ms", std::to_string(linger_ms)},
                      {"batch.num.messages", "10000"}}});
  if (!producer) {
    std::fprintf(stderr, "loadgen: %s\n", producer.error().c_str());
    return 1;
  }
  // Topic metadata first: otherwise the first requests wait for it and the
  // latency figures start with a metadata round trip that is not the gateway's.
  for (const std::string* topic : {&o.topic, &o.bulk_topic}) {
    if (!(*producer)->WarmUp(*topic, std::chrono::seconds(10))) {
      std::fprintf(stderr, "loadgen: no metadata for topic %s\n", topic->c_str());
      return 1;
    }
  }
  Counter counter;
  Generator gen(o);
  std::string topic, key, value;
  const auto start = Clock::now();
  auto last_progress = start;
  std::uint64_t backpressure = 0;
  for (std::uint64_t seq = 0; seq < o.count; ++seq) {
    if (o.rate > 0) {
      // Open loop: request `seq` is due at start + seq/rate, however late the
      // previous ones were (no coordinated omission).
      const auto due = start + std::chrono::nanoseconds(
                                   static_cast<std::int64_t>(1e9 * static_cast<double>(seq) / o.rate));
      const auto now = Clock::now();
      if (due > now) std::this_thread::sleep_for(due - now);
    }
    gen.Next(seq, topic, key, value);
    std::string error;
    while (!(*producer)->Produce(topic, key, value, {}, &counter, &error)) {
      ++backpressure;  // local queue full: let the delivery thread drain it
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto now = Clock::now();
    if (!o.quiet && now - last_progress >= std::chrono::seconds(1)) {
      last_progress = now;
      const double s = std::chrono::duration<double>(now - start).count();
      std::fprintf(stderr, "\rloadgen: published %lu/%lu (%.0f/s), acked %lu   ",
                   static_cast<unsigned long>(seq + 1), static_cast<unsigned long>(o.count),
                   static_cast<double>(seq + 1) / s, static_cast<unsigned long>(counter.ok_.load()));
    }
  }
  const int outstanding = (*producer)->Flush(std::chrono::seconds(60));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!o.quiet) std::fprintf(stderr, "\n");
  std::printf(
      "{\"published\":%lu,\"acked\":%lu,\"failed\":%lu,\"unacked\":%d,\"duration_s\":%.3f,"
      "\"rate\":%.1f,\"backpressure_waits\":%lu}\n",
      static_cast<unsigned long>(o.count), static_cast<unsigned long>(counter.ok_.load()),
      static_cast<unsigned long>(counter.failed_.load()), outstanding, seconds,
      static_cast<double>(o.count) / seconds, static_cast<unsigned long>(backpressure));
  return counter.failed_.load() == 0 && outstanding == 0 ? 0 : 1;
}
