// The pipeline in-process: embedded Kafka, in-process mock provider servers,
// events read back with a separate consumer group.
#include "gateway/pipeline.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <map>
#include <thread>

#include "bench/mock_provider.h"
#include "queue/kafka_consumer.h"
#include "queue/kafka_producer.h"
#include "tests/support/wait.h"

namespace omnigate::gateway {
namespace {

using namespace std::chrono_literals;
using omnigate::testing::WaitFor;

struct Ev {
  std::string id;
  std::string status;
  bool final = false;
  std::string channel;
  std::string provider;
  std::string reason;
  std::int64_t seq = 0;
};

class NullListener final : public queue::ConsumerListener {
 public:
  void OnAssigned(const std::vector<queue::TopicPartition>&) override {}
  std::vector<queue::TopicPartition> OnRevoked(const std::vector<queue::TopicPartition>&) override {
    return {};
  }
  void OnCommitted(const std::vector<queue::TopicPartition>&, bool) override {}
};

class CountingDelivery final : public queue::DeliveryListener {
 public:
  void OnDelivery(bool ok, std::string_view) override { ok ? ++ok_ : ++failed_; }
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
};

std::unique_ptr<bench::MockProvider> StartMock(bench::MockProvider::Options o) {
  o.account_sid = "ACtest";
  o.auth_token = "token";
  auto m = std::make_unique<bench::MockProvider>(o);
  EXPECT_GT(m->Start(), 0);
  return m;
}

ProviderConfig Twilio(const std::string& name, int port) {
  TwilioConfig t;
  t.base_url = "http://127.0.0.1:" + std::to_string(port);
  t.account_sid = "ACtest";
  t.auth_token = "token";
  t.from = "+15005550006";
  t.http.timeout = 2s;
  t.http.max_in_flight = 64;
  return {name, Channel::sms, t};
}

// Runs a Pipeline on embedded Kafka on its own thread.
class PipelineHarness {
 public:
  explicit PipelineHarness(Config config) {
    config.kafka.brokers = "embedded";
    config.kafka.embedded.partitions = 4;
    config.kafka.commit_interval = 20ms;
    config.kafka.consumer_properties["session.timeout.ms"] = "6000";
    config.http.listen = "127.0.0.1:0";
    config.retry.initial_backoff = 10ms;
    config.retry.max_backoff = 50ms;
    for (const auto& p : config.providers) config.routes[p.channel].push_back(p.name);
    config_ = std::make_shared<const Config>(std::move(config));
    auto p = Pipeline::Create(config_, metrics_);
    EXPECT_TRUE(p) << (p ? "" : p.error());
    pipeline_ = std::move(p).value();
    thread_ = std::thread([this] { rc_ = pipeline_->Run(stop_); });
    EXPECT_TRUE(WaitFor([&] { return pipeline_->ready(); }, 30s));
    auto prod = queue::KafkaProducer::Create({.brokers = pipeline_->bootstrap()});
    EXPECT_TRUE(prod);
    producer_ = std::move(prod).value();
  }

  ~PipelineHarness() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    producer_.reset();
    pipeline_.reset();
  }

  void Publish(const std::string& topic, const std::string& key, const std::string& value) {
    ASSERT_TRUE(producer_->Produce(topic, key, value, {}, &delivery_));
  }

  // Reads events until `n` distinct ids have a final event.
  std::vector<Ev> WaitForFinals(std::size_t n, std::chrono::seconds deadline = 30s) {
    if (!events_consumer_) {
      auto c = queue::KafkaConsumer::Create({.brokers = pipeline_->bootstrap(),
                                             .group_id = "test-reader",
                                             .topics = {config_->kafka.topics.events}},
                                            &null_listener_);
      EXPECT_TRUE(c);
      events_consumer_ = std::move(c).value();
    }
    WaitFor([&] {
      std::vector<queue::KafkaMessage> batch;
      events_consumer_->Poll(batch, 1000, 20ms);
      for (auto& m : batch) {
        simdjson::dom::element doc;
        EXPECT_EQ(parser_.parse(m.payload().data(), m.payload().size()).get(doc),
                  simdjson::SUCCESS);
        Ev e;
        std::string_view sv;
        if (doc["id"].get(sv) == simdjson::SUCCESS) e.id = sv;
        if (doc["status"].get(sv) == simdjson::SUCCESS) e.status = sv;
        if (doc["channel"].get(sv) == simdjson::SUCCESS) e.channel = sv;
        if (doc["provider"].get(sv) == simdjson::SUCCESS) e.provider = sv;
        if (doc["reason"].get(sv) == simdjson::SUCCESS) e.reason = sv;
        if (doc["final"].get(e.final) != simdjson::SUCCESS) e.final = false;
        if (doc["seq"].get(e.seq) != simdjson::SUCCESS) e.seq = 0;
        if (e.final) finals_.insert(e.id);
        events_.push_back(std::move(e));
      }
      return finals_.size() >= n;
    }, deadline, 1ms);
    return events_;
  }

  static Ev Final(const std::vector<Ev>& events, const std::string& id) {
    for (const auto& e : events) {
      if (e.id == id && e.final) return e;
    }
    return {};
  }
  static std::vector<std::string> Statuses(const std::vector<Ev>& events, const std::string& id) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.id == id) out.push_back(e.status);
    }
    return out;
  }

  GatewayMetrics& metrics() { return metrics_; }
  const Config& config() const { return *config_; }

 private:
  std::shared_ptr<const Config> config_;
  GatewayMetrics metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int rc_ = 0;
  std::unique_ptr<queue::KafkaProducer> producer_;
  CountingDelivery delivery_;
  NullListener null_listener_;
  std::unique_ptr<queue::KafkaConsumer> events_consumer_;
  simdjson::dom::parser parser_;
  std::vector<Ev> events_;
  std::set<std::string> finals_;
};

std::string Sms(const std::string& id, const std::string& extra = "") {
  return R"({"id":")" + id +
         R"(","to":{"phone":"+40700000001","viber":"+40700000001"},"channels":["sms"],)"
         R"("content":{"sms":{"text":"hello"}})" +
         extra + "}";
}

TEST(Pipeline, FailsOverToTheNextProviderWhenTheFirstKeepsFailing) {
  auto broken = StartMock({.error_rate = 1.0});
  auto healthy = StartMock({});
  Config c;
  c.providers = {Twilio("sms-a", broken->port()), Twilio("sms-b", healthy->port())};
  PipelineHarness h(c);
  for (int i = 0; i < 20; ++i) h.Publish("omnigate.requests", "k", Sms("fo-" + std::to_string(i)));
  auto events = h.WaitForFinals(20);
  for (int i = 0; i < 20; ++i) {
    const Ev f = PipelineHarness::Final(events, "fo-" + std::to_string(i));
    EXPECT_EQ(f.status, "sent");
    EXPECT_EQ(f.provider, "sms-b");
  }
  EXPECT_EQ(h.metrics().FindProvider("sms-a")->retry.Get(), 20u);
  EXPECT_EQ(h.metrics().FindProvider("sms-b")->accepted.Get(), 20u);
}

TEST(Pipeline, RetriesWithBackoffThenFailsWhenAttemptsRunOut) {
  auto broken = StartMock({.error_rate = 1.0});
  Config c;
  c.retry.max_attempts = 3;
  c.providers = {Twilio("sms-a", broken->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", Sms("r-1"));
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Statuses(events, "r-1"),
            (std::vector<std::string>{"accepted", "retrying", "retrying", "failed"}));
  EXPECT_EQ(PipelineHarness::Final(events, "r-1").reason.rfind("http_5", 0), 0u);
  EXPECT_EQ(h.metrics().FindProvider("sms-a")->retry.Get(), 3u);
}

TEST(Pipeline, InvalidNumberFailsAtOnceWithoutRetry) {
  auto mock = StartMock({.invalid_number_rate = 1.0});
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", Sms("inv-1"));
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Statuses(events, "inv-1"),
            (std::vector<std::string>{"accepted", "failed"}));
  EXPECT_EQ(PipelineHarness::Final(events, "inv-1").reason, "twilio_21211");
}

TEST(Pipeline, CascadeFallsBackToTheNextChannelWhenTheFirstHasNoProvider) {
  auto mock = StartMock({});
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k",
            R"({"id":"casc-1","to":{"phone":"+40700000001","viber":"+40700000001"},)"
            R"("channels":["viber","sms"],"content":{"viber":{"text":"hi"},"sms":{"text":"hi"}}})");
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Statuses(events, "casc-1"),
            (std::vector<std::string>{"accepted", "fallback", "sent"}));
  const Ev f = PipelineHarness::Final(events, "casc-1");
  EXPECT_EQ(f.channel, "sms");
}

TEST(Pipeline, ExpiredRequestsAreNotSentAndScheduledOnesWait) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", Sms("old-1", R"(,"expires_at":"2020-01-01T00:00:00Z")"));
  const auto due = std::chrono::system_clock::now() + 1500ms;
  const std::time_t t = std::chrono::system_clock::to_time_t(due);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  h.Publish("omnigate.requests", "k", Sms("later-1", std::string(R"(,"send_at":")") + buf + "\""));
  auto events = h.WaitForFinals(2);
  EXPECT_EQ(PipelineHarness::Final(events, "old-1").status, "expired");
  EXPECT_EQ(PipelineHarness::Statuses(events, "later-1"),
            (std::vector<std::string>{"accepted", "scheduled", "sent"}));
  EXPECT_GE(std::chrono::system_clock::now(), due - 1s);
  EXPECT_EQ(mock->Received().size(), 1u);
}

TEST(Pipeline, SlowProviderPausesPartitionsInsteadOfGrowingQueues) {
  auto slow = StartMock({.latency_ms = 200});
  Config c;
  c.pipeline.max_in_flight = 40;
  c.pipeline.max_in_flight_per_partition = 20;
  c.providers = {Twilio("sms-a", slow->port())};
  PipelineHarness h(c);
  for (int i = 0; i < 400; ++i) {
    h.Publish("omnigate.requests", "k" + std::to_string(i), Sms("bp-" + std::to_string(i)));
  }
  std::int64_t max_in_flight = 0;
  bool saw_pause = false;
  WaitFor([&] {
    max_in_flight = std::max(max_in_flight, h.metrics().in_flight.Get());
    saw_pause = saw_pause || h.metrics().partitions_paused.Get() > 0;
    return h.metrics().sent.Get() >= 400;
  }, 60s, 1ms);
  EXPECT_EQ(h.metrics().sent.Get(), 400u);
  EXPECT_TRUE(saw_pause);
  EXPECT_LE(max_in_flight, 40) << "in-flight must stay within pipeline.max_in_flight";
}

}  // namespace
}  // namespace omnigate::gateway
