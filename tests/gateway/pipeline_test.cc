// The pipeline in-process: embedded Kafka, in-process mock provider servers,
// events read back with a separate consumer group.
#include "gateway/pipeline.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "bench/mock_provider.h"
#include "gateway/message_status.h"
#include "gateway/policy/policy.h"
#include "gateway/state/blocking_store.h"
#include "providers/webpush/webpush_crypto.h"
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

// Counts assignments; keeps nothing, commits nothing.
class CountingListener final : public queue::ConsumerListener {
 public:
  void OnAssigned(const std::vector<queue::TopicPartition>& parts) override {
    assigned_ += static_cast<int>(parts.size());
  }
  std::vector<queue::TopicPartition> OnRevoked(const std::vector<queue::TopicPartition>&) override {
    return {};
  }
  void OnCommitted(const std::vector<queue::TopicPartition>&, bool) override {}
  std::atomic<int> assigned_{0};
};

class CountingDelivery final : public queue::DeliveryListener {
 public:
  void OnDelivery(bool ok, std::string_view, queue::ProduceError) override { ok ? ++ok_ : ++failed_; }
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

// A Viber provider the mock accepts.
ProviderConfig Viber(const std::string& name, int port) {
  ViberConfig vb;
  vb.base_url = "http://127.0.0.1:" + std::to_string(port);
  vb.auth_token = "viber-mock";
  vb.sender_name = "Shop";
  return {name, Channel::viber, vb};
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
    if (config.state.path == StateConfig{}.path) config.state.path = state_dir_.File("state");
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
  // `n` SMS requests "<prefix>0", "<prefix>1", ..., each under its own key
  // (spread over the partitions).
  void PublishSms(const std::string& prefix, int n);

  // A consumer of `topic` in its own group, created on first use.
  queue::KafkaConsumer& Reader(std::unique_ptr<queue::KafkaConsumer>& slot,
                               const std::string& group, const std::string& topic) {
    if (!slot) {
      auto c = queue::KafkaConsumer::Create(
          {.brokers = pipeline_->bootstrap(), .group_id = group, .topics = {topic}},
          &null_listener_);
      EXPECT_TRUE(c);
      slot = std::move(c).value();
    }
    return *slot;
  }

  // Reads events until `n` distinct ids have a final event.
  std::vector<Ev> WaitForFinals(std::size_t n, std::chrono::seconds deadline = 30s) {
    auto& reader = Reader(events_consumer_, "test-reader", config_->kafka.topics.events);
    WaitFor([&] {
      std::vector<queue::KafkaMessage> batch;
      reader.Poll(batch, 1000, 20ms);
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

  // Reads the DLQ until `n` records arrived (or the deadline passed).
  std::vector<queue::KafkaMessage> ReadDlq(std::size_t n, std::chrono::seconds deadline = 30s) {
    auto& reader = Reader(dlq_consumer_, "test-dlq-reader", config_->kafka.topics.dlq);
    std::vector<queue::KafkaMessage> out;
    WaitFor([&] {
      std::vector<queue::KafkaMessage> batch;
      reader.Poll(batch, 100, 20ms);
      for (auto& m : batch) out.push_back(std::move(m));
      return out.size() >= n;
    }, deadline, 1ms);
    return out;
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
  Pipeline& pipeline() { return *pipeline_; }
  const std::string& bootstrap() const { return pipeline_->bootstrap(); }
  const Config& config() const { return *config_; }

 private:
  testing::TempDir state_dir_;  // first in, last out: the store closes before it goes
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
  std::unique_ptr<queue::KafkaConsumer> dlq_consumer_;
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

void PipelineHarness::PublishSms(const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    Publish("omnigate.requests", "k" + std::to_string(i), Sms(prefix + std::to_string(i)));
  }
}

TEST(Pipeline, FailsOverToTheNextProviderWhenTheFirstKeepsFailing) {
  auto broken = StartMock({.error_rate = 1.0});
  auto healthy = StartMock({});
  Config c;
  c.providers = {Twilio("sms-a", broken->port()), Twilio("sms-b", healthy->port())};
  c.providers[0].circuit_breaker.failures = 0;  // every request tries sms-a first
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

// After `failures` answers of "try later" in a row, the provider's circuit
// opens: the next requests go straight to the second provider, none waits
// on the broken one, and the state shows on /metrics and /v1/stats.
TEST(Pipeline, AnOpenCircuitSendsStraightToTheNextProvider) {
  auto broken = StartMock({.error_rate = 1.0});
  auto healthy = StartMock({});
  Config c;
  c.providers = {Twilio("sms-a", broken->port()), Twilio("sms-b", healthy->port())};
  c.providers[0].circuit_breaker = {.failures = 3, .open_for = 1h, .max_open_for = 1h};
  PipelineHarness h(c);
  // One at a time, so that exactly three reach sms-a before it opens.
  for (int i = 0; i < 3; ++i) {
    h.Publish("omnigate.requests", "k", Sms("cb-" + std::to_string(i)));
    h.WaitForFinals(static_cast<std::size_t>(i + 1));
  }
  auto* a = h.metrics().FindProvider("sms-a");
  ASSERT_EQ(a->breaker->state(), providers::CircuitBreaker::State::open);
  for (int i = 3; i < 23; ++i) h.Publish("omnigate.requests", "k", Sms("cb-" + std::to_string(i)));
  auto events = h.WaitForFinals(23);
  for (int i = 0; i < 23; ++i) {
    const Ev f = PipelineHarness::Final(events, "cb-" + std::to_string(i));
    EXPECT_EQ(f.status, "sent");
    EXPECT_EQ(f.provider, "sms-b");
  }
  EXPECT_EQ(a->retry.Get(), 3u);
  EXPECT_EQ(a->breaker->rejected_total(), 20u);
  EXPECT_EQ(a->breaker->opened_total(), 1u);
  const std::string prom = h.metrics().RenderPrometheus();
  EXPECT_NE(prom.find("omnigate_provider_circuit_state{provider=\"sms-a\",state=\"open\"} 1"),
            std::string::npos);
  EXPECT_NE(prom.find("omnigate_provider_circuit_state{provider=\"sms-b\",state=\"closed\"} 1"),
            std::string::npos);
  EXPECT_NE(prom.find("omnigate_provider_circuit_rejected_total{provider=\"sms-a\"} 20"),
            std::string::npos);
  const std::string stats = h.metrics().RenderStatsJson(0);
  EXPECT_NE(stats.find("\"name\":\"sms-a\",\"channel\":\"sms\""), std::string::npos);
  EXPECT_NE(stats.find("\"circuit\":\"open\",\"circuit_opened\":1,\"circuit_rejected\":20"),
            std::string::npos)
      << stats;
}

// The only provider's circuit open: the request spends its attempts
// without a send (reason circuit_open) and fails like any exhausted retry;
// a cascade would move to its next channel.
TEST(Pipeline, AnOpenCircuitOnTheOnlyProviderSpendsAttemptsWithoutSending) {
  auto broken = StartMock({.error_rate = 1.0});
  Config c;
  c.retry.max_attempts = 3;
  c.retry.initial_backoff = 10ms;
  c.retry.max_backoff = 20ms;
  c.providers = {Twilio("sms-a", broken->port())};
  c.providers[0].circuit_breaker = {.failures = 1, .open_for = 1h, .max_open_for = 1h};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", Sms("only-1"));
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Statuses(events, "only-1"),
            (std::vector<std::string>{"accepted", "retrying", "retrying", "failed"}));
  EXPECT_EQ(PipelineHarness::Final(events, "only-1").reason, "circuit_open");
  EXPECT_EQ(h.metrics().FindProvider("sms-a")->retry.Get(), 1u);  // one send reached it
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
  // Far enough ahead that a busy machine still consumes it before it is due,
  // with milliseconds so that no truncation brings it closer.
  const auto due = std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now() + 2500ms);
  const std::time_t t = std::chrono::system_clock::to_time_t(due);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  char send_at[48];
  std::snprintf(send_at, sizeof send_at, "%s.%03dZ", buf,
                static_cast<int>(due.time_since_epoch().count() % 1000));
  h.Publish("omnigate.requests", "k",
            Sms("later-1", std::string(R"(,"send_at":")") + send_at + "\""));
  auto events = h.WaitForFinals(2);
  EXPECT_EQ(PipelineHarness::Final(events, "old-1").status, "expired");
  EXPECT_EQ(PipelineHarness::Statuses(events, "later-1"),
            (std::vector<std::string>{"accepted", "scheduled", "sent"}));
  EXPECT_GE(std::chrono::system_clock::now(), due - 50ms);
  EXPECT_EQ(mock->Received().size(), 1u);
}

TEST(Pipeline, EveryChannelReachesItsProviderApiAndFailsOverAcrossProviderTypes) {
  auto mock = StartMock({.keep_in_memory = true});
  const std::string base = "http://127.0.0.1:" + std::to_string(mock->port());
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  SendGridConfig sg;
  sg.base_url = base;
  sg.api_key = "SG.mock";
  c.providers.push_back({"email-a", Channel::email, sg});
  // The first Viber provider's token is wrong (permanent "auth"): the
  // request must fail over to the generic aggregator provider.
  ViberConfig vb;
  vb.base_url = base;
  vb.auth_token = "revoked";
  vb.sender_name = "Shop";
  c.providers.push_back({"viber-a", Channel::viber, vb});
  GenericHttpConfig gen;
  gen.channel = Channel::viber;
  gen.url = base + "/generic/send";
  gen.headers = {{"Content-Type", "application/json"}};
  gen.body = R"({"to":{{to|json}},"text":{{text|json}},"ref":{{id|json}}})";
  gen.success_json_pointer = "/status";
  gen.success_equals = "ok";
  gen.message_id_json_pointer = "/message_id";
  c.providers.push_back({"viber-agg", Channel::viber, gen});
  WebPushConfig wp;
  wp.vapid_private_key = providers::webpush::VapidKey::Generate().PrivateKeyBase64Url();
  wp.vapid_subject = "mailto:ops@example.com";
  wp.endpoint_origin_override = base;
  c.providers.push_back({"push-a", Channel::webpush, wp});
  for (const auto& p : c.providers) c.routes[p.channel].push_back(p.name);
  PipelineHarness h(c);

  const std::string p256dh = providers::webpush::VapidKey::Generate().PublicKeyBase64Url();
  h.Publish("omnigate.requests", "a",
            R"({"id":"e-1","to":{"email":"ana@example.com"},"channels":["email"],)"
            R"("content":{"email":{"from":"Shop <noreply@shop.example>","subject":"Hi",)"
            R"("text":"t","html":"<p>h</p>","unsubscribe_url":"https://shop.example/u"}}})");
  h.Publish("omnigate.requests", "b",
            R"({"id":"v-1","to":{"viber":"vb-42"},"channels":["viber"],)"
            R"("content":{"viber":{"text":"Sale today"}}})");
  h.Publish("omnigate.requests", "c",
            R"({"id":"w-1","to":{"webpush":{"endpoint":"https://push.example.net/push/s1",)"
            R"("p256dh":")" + p256dh + R"(","auth":"AAECAwQFBgcICQoLDA0ODw"}},)"
            R"("channels":["webpush"],"content":{"webpush":{"title":"T","body":"B"}}})");
  h.Publish("omnigate.requests", "d", Sms("s-1"));
  auto events = h.WaitForFinals(4);
  for (const char* id : {"e-1", "v-1", "w-1", "s-1"}) {
    EXPECT_EQ(PipelineHarness::Final(events, id).status, "sent") << id;
  }
  EXPECT_EQ(PipelineHarness::Final(events, "e-1").provider, "email-a");
  EXPECT_EQ(PipelineHarness::Final(events, "v-1").provider, "viber-agg");
  EXPECT_EQ(PipelineHarness::Final(events, "w-1").provider, "push-a");
  std::map<std::string, int> accepted_by_api;
  for (const auto& m : mock->Received()) {
    if (m.status < 300) ++accepted_by_api[m.api];
  }
  EXPECT_EQ(accepted_by_api, (std::map<std::string, int>{
                                 {"generic", 1}, {"push", 1}, {"sendgrid", 1}, {"twilio", 1}}));
}

// Hardening #1: the button's caption and URL reached the Viber API as bytes
// of a destroyed temporary (a `?:` between a std::string and "" made a copy
// that the message's string_views pointed into).
TEST(Pipeline, ViberPictureAndButtonReachTheApiIntact) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Viber("viber-a", mock->port())};
  PipelineHarness h(c);
  const std::string image = "https://cdn.shop.example/images/autumn-sale-banner-1200x800.png";
  const std::string url = "https://shop.example/orders/7781/tracking?utm_source=viber&step=1";
  const std::string caption = "Track your parcel";  // past the small-string buffer
  h.Publish("omnigate.requests", "k",
            R"({"id":"vb-btn","to":{"viber":"vb-42"},"channels":["viber"],"content":{"viber":)"
            R"({"text":"Your order is on its way","image_url":")" + image +
                R"(","button":{"caption":")" + caption + R"(","url":")" + url + R"("}}}})");
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Final(events, "vb-btn").status, "sent")
      << PipelineHarness::Final(events, "vb-btn").reason;
  const auto received = mock->Received();
  ASSERT_EQ(received.size(), 1u);
  const std::string& body = received[0].body;
  EXPECT_NE(body.find("\"ActionBody\":\"" + url + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"Text\":\"" + caption + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"media\":\"" + image + "\""), std::string::npos) << body;
}

// Hardening #2: a request larger than the producer's message.max.bytes got a
// DLQ copy that could never be written: re-produced every tick forever, the
// request never ended and its partition stopped at the in-flight limit.
TEST(Pipeline, OversizedRequestEndsWithACutDlqCopyAndItsPartitionFlows) {
  auto mock = StartMock({});
  Config c;
  c.pipeline.max_in_flight_per_partition = 4;
  c.kafka.producer_properties["message.max.bytes"] = "40000";
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  const std::string huge = "{\"id\":\"huge-1\",\"junk\":\"" + std::string(300'000, 'x') + "\"}";
  h.Publish("omnigate.requests", "k", huge);
  // Behind it on the same partition: more than the per-partition limit.
  for (int i = 0; i < 10; ++i) h.Publish("omnigate.requests", "k", Sms("after-" + std::to_string(i)));
  auto events = h.WaitForFinals(11);
  EXPECT_EQ(PipelineHarness::Final(events, "huge-1").status, "rejected");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(PipelineHarness::Final(events, "after-" + std::to_string(i)).status, "sent") << i;
  }
  auto dlq = h.ReadDlq(1);
  ASSERT_EQ(dlq.size(), 1u);
  const auto& rec = dlq[0];
  EXPECT_LT(rec.payload().size(), 40'000u);
  EXPECT_GT(rec.payload().size(), 10'000u) << "as much as fits is kept";
  EXPECT_EQ(rec.payload(), std::string_view(huge).substr(0, rec.payload().size()));
  EXPECT_EQ(rec.header("omnigate.truncated"), std::optional<std::string_view>("true"));
  EXPECT_EQ(rec.header("omnigate.original_size"),
            std::optional<std::string_view>(std::to_string(huge.size())));
  ASSERT_TRUE(rec.header("omnigate.sha256"));
  EXPECT_EQ(rec.header("omnigate.sha256")->size(), 64u);
  EXPECT_TRUE(rec.header("omnigate.reason"));
  EXPECT_EQ(h.metrics().dlq_truncated.Get(), 1u);
}

// Hardening #5: a provider's Retry-After of a day parked the request (and
// its partition's committed offset) for a day, past retry.max_backoff.
TEST(Pipeline, RetryAfterIsCappedByMaxBackoff) {
  auto throttling = StartMock({.throttle_rate = 1.0, .retry_after_s = 86'400});
  Config c;
  c.retry.max_attempts = 3;
  c.providers = {Twilio("sms-a", throttling->port())};
  PipelineHarness h(c);  // max_backoff 50 ms
  h.Publish("omnigate.requests", "k", Sms("ra-1"));
  auto events = h.WaitForFinals(1, 20s);
  EXPECT_EQ(PipelineHarness::Statuses(events, "ra-1"),
            (std::vector<std::string>{"accepted", "retrying", "retrying", "failed"}));
}

// Hardening #5: until durable timers, a send_at far ahead pins its partition;
// beyond pipeline.max_schedule_ahead it is refused with a clear reason.
TEST(Pipeline, SendAtBeyondTheScheduleHorizonIsRejected) {
  auto mock = StartMock({});
  Config c;
  c.pipeline.max_schedule_ahead = std::chrono::hours(1);
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", Sms("far-1", R"(,"send_at":"2099-01-01T00:00:00Z")"));
  h.Publish("omnigate.requests", "k", Sms("after-far"));
  auto events = h.WaitForFinals(2);
  const Ev f = PipelineHarness::Final(events, "far-1");
  EXPECT_EQ(f.status, "rejected");
  EXPECT_NE(f.reason.find("send_at: horizon"), std::string::npos) << f.reason;
  EXPECT_EQ(PipelineHarness::Final(events, "after-far").status, "sent");
  EXPECT_EQ(h.metrics().schedule_too_far.Get(), 1u);
  ASSERT_EQ(h.ReadDlq(1).size(), 1u);
}

// DESIGN.md §3: a transactional request is not queued behind a bulk backlog.
// The bulk lane may fill 90% of max_in_flight; held-back records are handed
// over transactional first.
TEST(Pipeline, TransactionalRequestsOvertakeABulkBacklog) {
  auto slow = StartMock({.latency_ms = 100});
  Config c;
  c.kafka.commit_interval = 20ms;
  c.pipeline.max_in_flight = 20;
  c.pipeline.max_in_flight_per_partition = 20;
  c.providers = {Twilio("sms-a", slow->port())};
  PipelineHarness h(c);
  constexpr int kBulk = 300;
  // The test's producer learns the transactional topic first, so that only
  // the gateway is measured, not a metadata round trip.
  h.Publish("omnigate.requests", "warm", Sms("warm-up"));
  ASSERT_FALSE(h.WaitForFinals(1).empty());
  for (int i = 0; i < kBulk; ++i) {
    h.Publish("omnigate.requests.bulk", "k" + std::to_string(i), Sms("bulk-" + std::to_string(i)));
  }
  // The bulk lane fills its share of the budget and the rest waits.
  // Past the first commit, whose group-coordinator round trips on the mock
  // cluster take most of a second.
  ASSERT_TRUE(WaitFor([&] { return h.metrics().held_back.Get() > 0 && h.metrics().sent.Get() >= 40; }, 30s));
  h.Publish("omnigate.requests", "otp", Sms("otp-1"));
  std::size_t bulk_done_before_otp = 0;
  std::vector<Ev> events;
  ASSERT_TRUE(WaitFor([&] {
    events = h.WaitForFinals(1, 1s);
    for (const auto& e : events) {
      if (e.final && e.id == "otp-1") return true;
    }
    return false;
  }, 30s));
  for (const auto& e : events) {
    if (e.final && e.id.rfind("bulk-", 0) == 0) ++bulk_done_before_otp;
  }
  EXPECT_EQ(PipelineHarness::Final(events, "otp-1").status, "sent");
  // 18 bulk requests per provider round trip: the backlog takes seconds to
  // drain; the transactional request must not wait for it.
  EXPECT_LT(bulk_done_before_otp, kBulk / 2u) << "the transactional request waited behind the bulk backlog";
  EXPECT_LE(h.metrics().in_flight.Get(), 20);
}

TEST(Pipeline, SlowProviderPausesPartitionsInsteadOfGrowingQueues) {
  auto slow = StartMock({.latency_ms = 200});
  Config c;
  c.pipeline.max_in_flight = 40;
  c.pipeline.max_in_flight_per_partition = 20;
  c.providers = {Twilio("sms-a", slow->port())};
  PipelineHarness h(c);
  h.PublishSms("bp-", 400);
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

// Hardening #3: librdkafka keeps a partition paused across a revoke, so a
// partition paused for backpressure and assigned back to the same member
// never delivered again (a second instance joining under load left a third
// of the requests unprocessed, with omnigate_partitions_paused at 0).
TEST(Pipeline, PartitionsPausedDuringARebalanceFlowAgainAfterIt) {
  auto slow = StartMock({.latency_ms = 100});
  Config c;
  c.pipeline.max_in_flight = 40;
  c.pipeline.max_in_flight_per_partition = 10;
  c.providers = {Twilio("sms-a", slow->port())};
  PipelineHarness h(c);
  constexpr int kRequests = 600;
  h.PublishSms("rb-", kRequests);
  ASSERT_TRUE(WaitFor([&] { return h.metrics().partitions_paused.Get() > 0; }, 30s));
  {
    // A second member joins the group (partitions are revoked and split),
    // then leaves (they come back to the pipeline).
    CountingListener listener;
    auto other = queue::KafkaConsumer::Create(
        {.brokers = h.bootstrap(),
         .group_id = h.config().kafka.group_id,
         .topics = {h.config().kafka.topics.requests, h.config().kafka.topics.requests_bulk},
         .properties = {{"session.timeout.ms", "6000"}}},
        &listener);
    ASSERT_TRUE(other);
    std::vector<queue::KafkaMessage> dropped;
    ASSERT_TRUE(WaitFor([&] {
      dropped.clear();
      (*other)->Poll(dropped, 100, 20ms);  // read, never committed: redelivered
      return listener.assigned_.load() > 0;
    }, 60s));
    (*other)->Close();
  }
  EXPECT_TRUE(WaitFor([&] { return h.metrics().sent.Get() >= static_cast<std::uint64_t>(kRequests); },
                      90s))
      << "sent " << h.metrics().sent.Get() << " of " << kRequests << "; partitions paused "
      << h.metrics().partitions_paused.Get();
}

}  // namespace
}  // namespace omnigate::gateway

namespace omnigate::gateway {
namespace {

// A suppression as the admin API writes it.
void Suppress(state::StateStore& store, const std::string& address, Channel channel) {
  state::BlockingStore blocking(store);
  std::vector<state::Op> ops{{.type = state::Op::Type::put,
                              .family = state::Family::suppression,
                              .key = policy::AddressKey("default", address, channel),
                              .value = policy::EncodeAddressRecord({"STOP", "test", 1, 0})}};
  ASSERT_EQ(blocking.Run(ops), state::StoreStatus::ok);
}

std::string SmsTo(const std::string& id, const std::string& phone, const std::string& user) {
  return R"({"id":")" + id + R"(","to":{"phone":")" + phone + R"(","user_id":")" + user +
         R"("},"channels":["sms"],"content":{"sms":{"text":"hello"}}})";
}

TEST(Pipeline, PolicyEndsDuplicatesAndSuppressionsAndSkipsASuppressedChannel) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  c.policy.defaults.frequency_caps = {FrequencyCap{std::nullopt, LaneScope::all, {{1, 1h}}}};
  PipelineHarness h(c);
  ASSERT_NE(h.pipeline().shared_store(), nullptr);
  Suppress(*h.pipeline().shared_store(), "+40700000002", Channel::sms);
  Suppress(*h.pipeline().shared_store(), "+40700000003", Channel::viber);

  // Published twice (one partition, two offsets): sent once.
  h.Publish("omnigate.requests", "a", SmsTo("dup-1", "+40700000001", "u-1"));
  h.Publish("omnigate.requests", "a", SmsTo("dup-1", "+40700000001", "u-1"));
  h.Publish("omnigate.requests", "b", SmsTo("sup-1", "+40700000002", "u-2"));
  // Viber opted out: the cascade goes on to sms.
  h.Publish("omnigate.requests", "c",
            R"({"id":"skip-1","to":{"phone":"+40700000003","viber":"+40700000003","user_id":"u-3"},)"
            R"("channels":["viber","sms"],"content":{"viber":{"text":"hi"},"sms":{"text":"hi"}}})");
  auto events = h.WaitForFinals(3);
  EXPECT_TRUE(WaitFor([&] {
    events = h.WaitForFinals(3, 1s);
    return std::count_if(events.begin(), events.end(), [](const Ev& e) {
             return e.id == "dup-1" && e.final;
           }) == 2;
  }, 30s));
  // The copy ends as a duplicate at once; the first as sent when the
  // provider answers.
  const auto dup = PipelineHarness::Statuses(events, "dup-1");
  EXPECT_EQ(std::multiset<std::string>(dup.begin(), dup.end()),
            (std::multiset<std::string>{"accepted", "accepted", "sent", "duplicate"}));
  const Ev sup = PipelineHarness::Final(events, "sup-1");
  EXPECT_EQ(sup.status, "suppressed");
  EXPECT_EQ(sup.reason.rfind("suppression: sms opted out (STOP) from test", 0), 0u) << sup.reason;
  EXPECT_EQ(PipelineHarness::Statuses(events, "skip-1"),
            (std::vector<std::string>{"accepted", "fallback", "sent"}));
  EXPECT_EQ(PipelineHarness::Final(events, "skip-1").channel, "sms");

  // The first send of u-1 counted against its cap (1/1h): the next is suppressed.
  h.Publish("omnigate.requests", "a", SmsTo("cap-2", "+40700000001", "u-1"));
  events = h.WaitForFinals(4);
  const Ev cap = PipelineHarness::Final(events, "cap-2");
  EXPECT_EQ(cap.status, "suppressed");
  EXPECT_EQ(cap.reason.rfind("frequency_cap: 1/1h across channels", 0), 0u) << cap.reason;
  // A burst to a new recipient, all in flight at once: one goes, the rest
  // see it on its way (the store has not counted it yet) and are capped.
  for (int i = 0; i < 8; ++i) {
    h.Publish("omnigate.requests", "burst", SmsTo("burst-" + std::to_string(i), "+40700000005", "u-5"));
  }
  events = h.WaitForFinals(12);
  int burst_sent = 0;
  for (int i = 0; i < 8; ++i) {
    burst_sent += PipelineHarness::Final(events, "burst-" + std::to_string(i)).status == "sent";
  }
  EXPECT_EQ(burst_sent, 1);

  // The provider saw dup-1, skip-1 and one of the burst only.
  std::multiset<std::string> to;
  for (const auto& m : mock->Received()) to.insert(m.to);
  EXPECT_EQ(to, (std::multiset<std::string>{"+40700000001", "+40700000003", "+40700000005"}));
  auto& row = h.metrics().policy.For("default");
  EXPECT_EQ(row[static_cast<std::size_t>(policy::Outcome::duplicate_id)].Get(), 1u);
  EXPECT_EQ(row[static_cast<std::size_t>(policy::Outcome::suppressed_suppression)].Get(), 1u);
  EXPECT_EQ(row[static_cast<std::size_t>(policy::Outcome::skipped_suppression)].Get(), 1u);
  EXPECT_EQ(row[static_cast<std::size_t>(policy::Outcome::suppressed_frequency_cap)].Get(), 8u);
  EXPECT_EQ(h.metrics().duplicates.Get(), 1u);
  EXPECT_EQ(h.metrics().suppressed.Get(), 9u);
}

TEST(Pipeline, PolicyOffSendsEveryCopy) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.policy.enabled = false;
  c.providers = {Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  EXPECT_EQ(h.pipeline().shared_store(), nullptr);
  h.Publish("omnigate.requests", "a", Sms("twice-1"));
  h.Publish("omnigate.requests", "a", Sms("twice-1"));
  EXPECT_TRUE(WaitFor([&] { return mock->Received().size() == 2; }, 30s));
}

}  // namespace
}  // namespace omnigate::gateway

namespace omnigate::gateway {
namespace {

// A bulk send inside the recipient's quiet hours is deferred to a durable
// timer (its release is covered by the policy and timer suites; here: it
// leaves the pipeline, committed, without a final event), while the
// transactional lane goes through.
TEST(Pipeline, QuietHoursDeferBulkToATimerAndLetTransactionalThrough) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Twilio("sms-a", mock->port())};
  const auto now = std::chrono::system_clock::now();
  const auto minute = static_cast<int>(
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count() % 1440);
  c.policy.defaults.quiet_hours = {
      QuietHoursRule{(minute + 1440 - 60) % 1440, (minute + 60) % 1440, LaneScope::bulk, {}}};
  PipelineHarness h(c);
  h.Publish("omnigate.requests.bulk", "a", SmsTo("night-bulk", "+40700000001", "u-1"));
  h.Publish("omnigate.requests", "b", SmsTo("night-otp", "+40700000002", "u-2"));
  auto events = h.WaitForFinals(1);
  EXPECT_EQ(PipelineHarness::Final(events, "night-otp").status, "sent");
  ASSERT_TRUE(WaitFor([&] {
    events = h.WaitForFinals(1, 1s);
    return PipelineHarness::Statuses(events, "night-bulk").size() == 2;
  }, 30s));
  EXPECT_EQ(PipelineHarness::Statuses(events, "night-bulk"),
            (std::vector<std::string>{"accepted", "deferred"}));
  for (const auto& e : events) {
    if (e.id == "night-bulk" && e.status == "deferred") {
      EXPECT_EQ(e.reason.rfind("quiet_hours: ", 0), 0u) << e.reason;
      EXPECT_NE(e.reason.find("UTC for sms; released at "), std::string::npos) << e.reason;
    }
  }
  EXPECT_TRUE(WaitFor([&] {
    return h.metrics().deferred.Get() == 1 && h.metrics().in_flight.Get() == 0;
  }, 30s)) << "deferred and committed";
  EXPECT_EQ(mock->Received().size(), 1u);
}

}  // namespace
}  // namespace omnigate::gateway

namespace omnigate::gateway {
namespace {

// Issue 11: a receipt-timed cascade whose first step hears nothing: Viber
// is sent (not final), its timer holds the request (offset committed),
// and right after the timeout the request falls back to SMS, once. The
// status store shows the whole story.
TEST(Pipeline, ACascadeStepWithoutItsReceiptFallsBackAfterTheTimeout) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Viber("viber-a", mock->port()), Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  const auto published = std::chrono::steady_clock::now();
  h.Publish("omnigate.requests", "k",
            R"({"id":"casc-1","to":{"viber":"+40700000001","phone":"+40700000001"},)"
            R"("channels":["viber","sms"],"cascade":{"viber":{"wait_for":"delivered","timeout":"1s"}},)"
            R"("content":{"viber":{"text":"Your parcel"},"sms":{"text":"Your parcel"}}})");
  // Handed to its timer: committed, nothing in flight, nothing final yet.
  ASSERT_TRUE(WaitFor([&] { return mock->Received().size() == 1; }, 30s));
  EXPECT_TRUE(WaitFor([&] { return h.metrics().in_flight.Get() == 0; }, 30s));
  auto events = h.WaitForFinals(1, 60s);
  const auto waited = std::chrono::steady_clock::now() - published;
  EXPECT_GE(waited, 1s) << "fell back before the timeout";
  EXPECT_EQ(PipelineHarness::Statuses(events, "casc-1"),
            (std::vector<std::string>{"accepted", "sent", "fallback", "sent"}));
  const Ev f = PipelineHarness::Final(events, "casc-1");
  EXPECT_EQ(f.status, "sent");
  EXPECT_EQ(f.provider, "sms-a");
  for (const auto& e : events) {
    if (e.id == "casc-1" && e.status == "fallback") {
      EXPECT_EQ(e.reason, "cascade_timeout: no delivered within 1s");
    }
  }
  EXPECT_EQ(mock->Received().size(), 2u);
  EXPECT_EQ(h.metrics().cascade_timeouts.Get(), 1u);
  // The status store has all four events, in order.
  state::BlockingStore store(*h.pipeline().shared_store());
  std::vector<state::Op> ops(1, state::Op{.type = state::Op::Type::get,
                                          .family = state::Family::status,
                                          .key = HistoryKey("default", "casc-1")});
  ASSERT_EQ(store.Run(ops), state::StoreStatus::ok);
  const std::string message = RenderMessage("default", "casc-1", ops[0].result);
  std::size_t pos = 0;
  for (const char* status : {"accepted", "sent", "fallback", "sent"}) {
    pos = message.find(std::string("\"status\":\"") + status + "\"", pos);
    EXPECT_NE(pos, std::string::npos) << status << " in " << message;
  }
}

constexpr std::string_view kCascadeToSuppress =
    R"({"id":"casc-2","to":{"viber":"+40700000001","phone":"+40700000001"},)"
    R"("channels":["viber","sms"],"cascade":{"viber":{"wait_for":"delivered","timeout":"1s"}},)"
    R"("content":{"viber":{"text":"Your parcel"},"sms":{"text":"Your parcel"}}})";

// The later step is checked again when it comes: an SMS opt-out recorded
// while Viber waits for its receipt ends the cascade `suppressed` instead
// of sending the SMS.
TEST(Pipeline, ACascadeStepChecksOptOutsAgainWhenItComes) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Viber("viber-a", mock->port()), Twilio("sms-a", mock->port())};
  PipelineHarness h(c);
  h.Publish("omnigate.requests", "k", std::string(kCascadeToSuppress));
  ASSERT_TRUE(WaitFor([&] { return mock->Received().size() == 1; }, 30s));
  state::BlockingStore store(*h.pipeline().shared_store());
  std::vector<state::Op> opt_out(
      1, state::Op{.type = state::Op::Type::put,
                   .family = state::Family::suppression,
                   .key = policy::AddressKey("default", "+40700000001", Channel::sms),
                   .value = policy::EncodeAddressRecord({.reason = "STOP", .source = "test"})});
  ASSERT_EQ(store.Run(opt_out), state::StoreStatus::ok);
  const auto events = h.WaitForFinals(1, 60s);
  EXPECT_EQ(PipelineHarness::Statuses(events, "casc-2"),
            (std::vector<std::string>{"accepted", "sent", "suppressed"}));
  const Ev f = PipelineHarness::Final(events, "casc-2");
  EXPECT_EQ(f.reason.rfind("cascade_timeout: no delivered within 1s; suppression: sms opted out", 0),
            0u)
      << f.reason;
  EXPECT_EQ(mock->Received().size(), 1u) << "the SMS went out to an opted-out number";
  EXPECT_EQ(h.metrics().cascade_timeouts.Get(), 1u);
}

// Quiet hours on SMS alone hold the cascade's SMS step (Viber goes at
// once): the fallback is said once, the step is deferred to the window's
// end in a timer, and a timer that fires while the window still holds
// defers it again without a second fallback.
TEST(Pipeline, QuietHoursHoldACascadesNextStepOnce) {
  auto mock = StartMock({.keep_in_memory = true});
  Config c;
  c.providers = {Viber("viber-a", mock->port()), Twilio("sms-a", mock->port())};
  const auto now = std::chrono::system_clock::now();
  const auto minute = static_cast<int>(
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count() % 1440);
  c.policy.defaults.quiet_hours = {QuietHoursRule{
      (minute + 1440 - 60) % 1440, (minute + 60) % 1440, LaneScope::bulk, {Channel::sms}}};
  PipelineHarness h(c);
  std::string request(kCascadeToSuppress);
  request.replace(request.find("casc-2"), 6, "casc-3");
  h.Publish("omnigate.requests.bulk", "k", request);
  auto statuses = [&] {
    return PipelineHarness::Statuses(h.WaitForFinals(0, 1s), "casc-3");
  };
  ASSERT_TRUE(WaitFor([&] { return statuses().size() == 4; }, 30s)) << statuses().size();
  EXPECT_EQ(statuses(), (std::vector<std::string>{"accepted", "sent", "fallback", "deferred"}));
  EXPECT_TRUE(WaitFor([&] { return h.metrics().in_flight.Get() == 0; }, 30s));
  state::BlockingStore store(*h.pipeline().shared_store());
  std::vector<state::Op> ops = {
      {.type = state::Op::Type::get, .family = state::Family::status,
       .key = CascadeKey("default", "casc-3")},
      {.type = state::Op::Type::get, .family = state::Family::timer,
       .key = TimerKey("default", "casc-3")}};
  ASSERT_EQ(store.Run(ops), state::StoreStatus::ok);
  ASSERT_TRUE(ops[0].found && ops[1].found);
  EXPECT_EQ(ops[0].result.rfind("q|0|viber|delivered", 0), 0u) << ops[0].result;
  // The window is still on when the timer is made due now: held again.
  std::vector<state::Op> due(
      1, state::Op{.type = state::Op::Type::timer_set,
                   .family = state::Family::timer,
                   .key = TimerKey("default", "casc-3"),
                   .value = ops[1].result,
                   .due_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()});
  ASSERT_EQ(store.Run(due), state::StoreStatus::ok);
  ASSERT_TRUE(WaitFor([&] { return statuses().size() == 5; }, 30s));
  EXPECT_EQ(statuses(),
            (std::vector<std::string>{"accepted", "sent", "fallback", "deferred", "deferred"}));
  EXPECT_EQ(mock->Received().size(), 1u);
}

}  // namespace
}  // namespace omnigate::gateway
