#include "gateway/dashboard.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "tests/support/process.h"

namespace omnigate::gateway {
namespace {

using omnigate::testing::RunCommand;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = std::make_unique<ProviderMetrics>();
    p->name = "sms-main";
    p->channel = Channel::sms;
    metrics_.providers.push_back(std::move(p));
    metrics_.policy.Init({"shop-ro"});
    server_ = std::make_unique<HttpServer>(
        HttpServerOptions{.listen = "127.0.0.1:0", .admin_token = "t0ken"});
    RegisterDashboardRoutes(*server_, metrics_, [] { return std::int64_t{1'764'000'000'000}; });
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }

  std::string Get(const std::string& path, const std::string& user = "ops:t0ken") {
    std::string out;
    EXPECT_EQ(RunCommand({"curl", "-s", "-D", "-", "-u", user, base_ + path}, &out), 0);
    return out;
  }

  GatewayMetrics metrics_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
};

// The page is served from the binary, behind the token, and loads nothing
// from anywhere else.
TEST_F(DashboardTest, ThePageIsServedFromTheBinaryBehindTheToken) {
  EXPECT_NE(Get("/", "ops:wrong").find("HTTP/1.1 401"), std::string::npos);
  const std::string page = Get("/");
  EXPECT_NE(page.find("HTTP/1.1 200"), std::string::npos) << page.substr(0, 300);
  EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
  EXPECT_NE(page.find("<title>Omnigate</title>"), std::string::npos);
  EXPECT_NE(page.find("fetch(\"v1/stats\""), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos) << "no external resources";
  EXPECT_EQ(page.find("https://"), std::string::npos) << "no external resources";
  EXPECT_EQ(DashboardHtml().back(), '\n') << "the whole file is compiled in";
}

// /v1/stats carries the counters, gauges, provider histograms, policy
// decisions and Kafka figures the page plots, as valid JSON.
TEST_F(DashboardTest, StatsCarryWhatThePagePlots) {
  metrics_.sent.Inc(7);
  metrics_.sent_by_channel[static_cast<std::size_t>(Channel::sms)].Inc(7);
  metrics_.consumed_bulk.Inc(9);
  metrics_.in_flight.Set(42);
  metrics_.providers[0]->accepted.Inc(7);
  metrics_.providers[0]->latency.Observe(std::chrono::milliseconds(3));
  metrics_.policy.For("shop-ro")[0].Inc(5);
  metrics_.policy.For("another")[0].Inc(2);
  queue::KafkaStats consumer;
  consumer.type = "consumer";
  consumer.partitions.push_back({.topic = "omnigate.requests", .partition = 3, .lag = 120});
  consumer.brokers.push_back({.name = "127.0.0.1:9092/1", .node_id = 1, .up = true,
                              .rtt_p99_seconds = 0.002});
  metrics_.kafka.Update(consumer);

  const std::string reply = Get("/v1/stats");
  const auto body_at = reply.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string body = reply.substr(body_at + 4);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  EXPECT_EQ(doc["time_ms"].get_int64().value(), 1'764'000'000'000);
  EXPECT_EQ(doc["final"]["sent"].get_int64().value(), 7);
  EXPECT_EQ(doc["sent_by_channel"]["sms"].get_int64().value(), 7);
  EXPECT_EQ(doc["consumed"]["bulk"].get_int64().value(), 9);
  EXPECT_EQ(doc["gauges"]["in_flight"].get_int64().value(), 42);
  auto provider = doc["providers"].at(0);
  EXPECT_EQ(provider["name"].get_string().value(), "sms-main");
  EXPECT_EQ(provider["accepted"].get_int64().value(), 7);
  // 3 ms lands in the (2.5 ms, 5 ms] bucket, the fourth.
  EXPECT_EQ(provider["latency_buckets"].at(3).get_int64().value(), 1);
  EXPECT_EQ(doc["latency_bounds_seconds"].get_array().size(),
            LatencyHistogram::kBoundsSeconds.size());
  auto allowed = doc["policy"].at(0);
  EXPECT_EQ(allowed["decision"].get_string().value(), "allowed");
  EXPECT_EQ(allowed["count"].get_int64().value(), 7) << "summed over the tenants";
  auto lag = doc["kafka"]["lag"].at(0);
  EXPECT_EQ(lag["partition"].get_int64().value(), 3);
  EXPECT_EQ(lag["lag"].get_int64().value(), 120);
  auto broker = doc["kafka"]["brokers"].at(0);
  EXPECT_EQ(broker["client"].get_string().value(), "consumer");
  EXPECT_TRUE(broker["up"].get_bool().value());
}

}  // namespace
}  // namespace omnigate::gateway
