#include "gateway/metrics.h"

#include <gtest/gtest.h>

namespace omnigate::gateway {
namespace {

TEST(Metrics, RendersCountersGaugesAndProviderHistograms) {
  GatewayMetrics m;
  m.consumed_transactional.Inc(3);
  m.sent.Inc(2);
  m.rejected.Inc();
  m.in_flight.Set(42);
  m.commits.Inc(5);
  m.held_back.Set(7);
  m.sent_by_channel[static_cast<std::size_t>(Channel::sms)].Inc(2);
  auto p = std::make_unique<ProviderMetrics>();
  p->name = "sms-main";
  p->accepted.Inc(2);
  p->latency.Observe(std::chrono::microseconds(700));    // <= 1 ms
  p->latency.Observe(std::chrono::microseconds(30'000)); // <= 50 ms
  m.providers.push_back(std::move(p));
  const std::string text = m.RenderPrometheus();
  for (const char* line : {
           "omnigate_requests_consumed_total{lane=\"transactional\"} 3\n",
           "omnigate_requests_final_total{status=\"sent\"} 2\n",
           "omnigate_requests_final_total{status=\"rejected\"} 1\n",
           "omnigate_in_flight 42\n",
           "omnigate_offset_commits_total 5\n",
           "omnigate_held_back 7\n",
           "omnigate_sent_total{channel=\"sms\"} 2\n",
           "omnigate_provider_responses_total{provider=\"sms-main\",channel=\"sms\",outcome=\"accepted\"} 2\n",
           "omnigate_provider_latency_seconds_bucket{provider=\"sms-main\",le=\"0.0005\"} 0\n",
           "omnigate_provider_latency_seconds_bucket{provider=\"sms-main\",le=\"0.001\"} 1\n",
           "omnigate_provider_latency_seconds_bucket{provider=\"sms-main\",le=\"0.05\"} 2\n",
           "omnigate_provider_latency_seconds_bucket{provider=\"sms-main\",le=\"+Inf\"} 2\n",
           "omnigate_provider_latency_seconds_count{provider=\"sms-main\"} 2\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\n" << text;
  }
  // Each metric family has exactly one TYPE line.
  std::size_t pos = 0;
  int type_lines = 0;
  while ((pos = text.find("# TYPE omnigate_requests_final_total ", pos)) != std::string::npos) {
    ++type_lines;
    ++pos;
  }
  EXPECT_EQ(type_lines, 1);
}

}  // namespace
}  // namespace omnigate::gateway
