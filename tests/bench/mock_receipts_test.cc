// The mock provider's delivery receipts, received by the gateway's own HTTP
// server and checked with the gateway's receipt verifiers: what the mock
// posts is what those verifiers accept, and the outcome mix, delays and
// retries are what the settings say.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>

#include "bench/mock_provider.h"
#include "gateway/http_server.h"
#include "providers/http/transport.h"
#include "providers/sendgrid/sendgrid_receipt.h"
#include "providers/twilio/twilio_receipt.h"
#include "providers/viber/viber_receipt.h"
#include "tests/support/io_loop.h"
#include "tests/support/wait.h"

namespace omnigate::bench {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using gateway::HttpRequest;
using gateway::HttpResponse;
using omnigate::testing::WaitFor;

// The provider's side of the gateway: an HTTP server that keeps every
// receipt posted to /v1/receipts/* and answers `status` (503 on the first
// `fail_first` posts of each receipt body when asked to).
class Receiver {
 public:
  Receiver() : server_({.listen = "127.0.0.1:0"}) {
    server_.Route(
        "POST", "/v1/receipts/*",
        [this](const HttpRequest& r) {
          std::lock_guard lock(mu_);
          HttpResponse resp;
          resp.status = status_;
          if (fail_first_ > 0 && ++attempts_[r.body] <= fail_first_) resp.status = 503;
          if (resp.status == 200) received_.push_back(r);
          ++posts_;
          return resp;
        },
        gateway::Access::open);
    auto port = server_.Start();
    EXPECT_TRUE(port.has_value());
    port_ = port ? *port : 0;
  }

  std::string Url(const std::string& provider) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/receipts/" + provider;
  }
  std::vector<HttpRequest> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  int posts() const {
    std::lock_guard lock(mu_);
    return posts_;
  }
  void Answer(int status, int fail_first = 0) {
    std::lock_guard lock(mu_);
    status_ = status;
    fail_first_ = fail_first;
  }

 private:
  gateway::HttpServer server_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<HttpRequest> received_;
  std::map<std::string, int> attempts_;
  int posts_ = 0;
  int status_ = 200;
  int fail_first_ = 0;
};

std::string Header(const HttpRequest& r, std::string_view name) {
  const std::string* v = r.header(name);
  return v == nullptr ? std::string() : *v;
}

class MockReceiptsTest : public ::testing::Test {
 protected:
  std::unique_ptr<MockProvider> Mock(ReceiptSender::Settings s) {
    MockProvider::Options o;
    o.receipts = std::move(s);
    auto m = std::make_unique<MockProvider>(std::move(o));
    EXPECT_GT(m->Start(), 0) << m->last_error();
    return m;
  }

  http::Response Post(const MockProvider& m, const std::string& path,
                      std::vector<std::string> headers, std::string body) {
    http::Request r;
    r.url = "http://127.0.0.1:" + std::to_string(m.port()) + path;
    r.headers = std::move(headers);
    r.body = std::move(body);
    std::optional<http::Response> got;
    transport_.Send(std::move(r), [&](http::Response resp) { got = std::move(resp); });
    EXPECT_TRUE(omnigate::testing::RunIoUntil(io_, [&] { return got.has_value(); }, 10s));
    return got.value_or(http::Response{});
  }

  // One message accepted by each API; returns the provider message ids.
  std::string SendTwilio(const MockProvider& m, const std::string& callback = {}) {
    std::string form = "To=%2B40700000001&From=%2B15005550006&Body=hi";
    if (!callback.empty()) form += "&StatusCallback=" + callback;
    const auto r = Post(m, "/2010-04-01/Accounts/ACmock/Messages.json",
                        {"Authorization: Basic QUNtb2NrOm1vY2stdG9rZW4=",
                         "Content-Type: application/x-www-form-urlencoded"},
                        form);
    EXPECT_EQ(r.status, 201) << r.body;
    const auto at = r.body.find("\"sid\":\"");
    return at == std::string::npos ? std::string() : r.body.substr(at + 7, 34);
  }
  std::string SendSendGrid(const MockProvider& m) {
    const auto r = Post(m, "/v3/mail/send", {"Authorization: Bearer SG.mock"},
                        R"({"personalizations":[{"to":[{"email":"ana@example.com"}]}],)"
                        R"("from":{"email":"shop@example.com"}})");
    EXPECT_EQ(r.status, 202);
    return r.header("x-message-id") == nullptr ? std::string() : *r.header("x-message-id");
  }
  std::string SendViber(const MockProvider& m) {
    const auto r = Post(m, "/pa/send_message", {"X-Viber-Auth-Token: viber-mock"},
                        R"({"receiver":"vb-user==","type":"text","text":"t"})");
    const auto at = r.body.find("\"message_token\":");
    if (at == std::string::npos) return {};
    return r.body.substr(at + 16, r.body.find(',', at) - at - 16);
  }
  std::string SendGeneric(const MockProvider& m) {
    const auto r = Post(m, "/generic/send", {"Content-Type: application/json"},
                        R"({"to":"+40700000002","text":"t"})");
    const auto at = r.body.find("\"message_id\":\"");
    if (at == std::string::npos) return {};
    return r.body.substr(at + 14, r.body.find('"', at + 14) - at - 14);
  }

  asio::io_context io_;
  http::Transport transport_{io_, {}};
};

TEST_F(MockReceiptsTest, EveryApiPostsReceiptsTheGatewaysVerifiersAccept) {
  Receiver gw;
  ReceiptSender::Settings s;
  s.url = {gw.Url("sms"), gw.Url("email"), gw.Url("viber"), gw.Url("agg")};
  s.delay_ms = 0;
  auto mock = Mock(s);
  const std::string sms = SendTwilio(*mock);
  const std::string email = SendSendGrid(*mock);
  const std::string viber = SendViber(*mock);
  const std::string generic = SendGeneric(*mock);
  ASSERT_TRUE(WaitFor([&] { return gw.received().size() == 4; }));

  auto verifier =
      providers::SendGridWebhookVerifier::FromPublicKey(mock->receipts().sendgrid_public_key());
  ASSERT_TRUE(verifier.has_value()) << verifier.error();
  for (const HttpRequest& r : gw.received()) {
    SCOPED_TRACE(r.target + " " + r.body);
    providers::ReceiptResult parsed = MakeUnexpected(providers::ReceiptError{0, "unmatched"});
    if (r.target.ends_with("/sms")) {
      parsed = providers::ParseTwilioStatusCallback(
          r.body, Header(r, providers::kTwilioSignatureHeader),
          Header(r, providers::kTwilioIdempotencyHeader), gw.Url("sms"), "mock-token");
      ASSERT_TRUE(parsed.has_value()) << parsed.error().reason;
      EXPECT_EQ(parsed->at(0).provider_message_id, sms);
      EXPECT_FALSE(parsed->at(0).dedup_key.empty());
    } else if (r.target.ends_with("/email")) {
      parsed = providers::ParseSendGridEventWebhook(
          *verifier, r.body, Header(r, providers::kSendGridSignatureHeader),
          Header(r, providers::kSendGridTimestampHeader), std::chrono::system_clock::now());
      ASSERT_TRUE(parsed.has_value()) << parsed.error().reason;
      EXPECT_EQ(parsed->at(0).provider_message_id, email);
      EXPECT_EQ(parsed->at(0).address, "ana@example.com");
    } else if (r.target.ends_with("/viber")) {
      parsed =
          providers::ParseViberCallback(r.body, Header(r, providers::kViberSignatureHeader),
                                        "viber-mock");
      ASSERT_TRUE(parsed.has_value()) << parsed.error().reason;
      EXPECT_EQ(parsed->at(0).provider_message_id, viber);
    } else {
      ASSERT_TRUE(r.target.ends_with("/agg"));
      EXPECT_EQ(Header(r, "X-Signature"),
                providers::ComputeViberSignature("generic-mock", r.body));  // hex HMAC-SHA256
      EXPECT_EQ(r.body.find(R"({"message_id":")" + generic + R"(","status":"DELIVRD")"), 0u);
      continue;
    }
    ASSERT_EQ(parsed->size(), 1u);
    EXPECT_EQ(parsed->at(0).status, providers::ReceiptStatus::delivered);
  }
  // A tampered body fails the same verifier: the signatures do cover it.
  const HttpRequest viber_receipt = [&] {
    for (const auto& r : gw.received()) {
      if (r.target.ends_with("/viber")) return r;
    }
    return HttpRequest{};
  }();
  std::string tampered = viber_receipt.body;
  tampered.replace(tampered.find("delivered"), 9, "seen_____");
  EXPECT_FALSE(providers::ParseViberCallback(
      tampered, Header(viber_receipt, providers::kViberSignatureHeader), "viber-mock"));
}

TEST_F(MockReceiptsTest, TwilioPostsToTheMessagesOwnStatusCallback) {
  Receiver gw;
  ReceiptSender::Settings s;
  s.url[0] = gw.Url("fallback");
  s.delay_ms = 0;
  auto mock = Mock(s);
  SendTwilio(*mock, gw.Url("sms-main"));
  ASSERT_TRUE(WaitFor([&] { return gw.received().size() == 1; }));
  const HttpRequest r = gw.received()[0];
  EXPECT_EQ(r.target, "/v1/receipts/sms-main");
  EXPECT_TRUE(providers::ParseTwilioStatusCallback(
      r.body, Header(r, providers::kTwilioSignatureHeader), "", gw.Url("sms-main"), "mock-token"));
}

TEST_F(MockReceiptsTest, TheOutcomeMixAndReadReceiptsFollowTheSettings) {
  Receiver gw;
  ReceiptSender::Settings s;
  s.url[2] = gw.Url("viber");
  s.delivered = 0.5;
  s.failed = 0.3;
  s.read = 0.5;
  s.delay_ms = 0;
  auto mock = Mock(s);
  constexpr int kSends = 400;
  for (int i = 0; i < kSends; ++i) ASSERT_FALSE(SendViber(*mock).empty());
  // What was scheduled is what arrives: every posted receipt accepted.
  auto stats = [&] { return mock->receipts().StatsJson(); };
  ASSERT_TRUE(WaitFor([&] { return stats().find(R"("pending":0,)") != std::string::npos; }))
      << stats();
  std::map<std::string, int> events;
  for (const HttpRequest& r : gw.received()) {
    auto parsed = providers::ParseViberCallback(
        r.body, Header(r, providers::kViberSignatureHeader), "viber-mock");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().reason;
    ++events[parsed->at(0).raw_status];
  }
  // Binomial draws: 4 standard deviations either way.
  EXPECT_NEAR(events["delivered"], 200, 40);
  EXPECT_NEAR(events["failed"], 120, 37);
  EXPECT_NEAR(events["seen"], 100, 35);  // half of those delivered
  EXPECT_LE(events["seen"], events["delivered"]);
  const int silent = kSends - events["delivered"] - events["failed"];
  EXPECT_NEAR(silent, 80, 32);
  EXPECT_NE(stats().find(fmt::format(R"("scheduled":{{"delivered":{},"failed":{},"read":{}}})",
                                     events["delivered"], events["failed"], events["seen"])),
            std::string::npos)
      << stats();
}

TEST_F(MockReceiptsTest, A5xxIsRetriedAndA4xxIsNot) {
  Receiver gw;
  gw.Answer(200, /*fail_first=*/1);
  ReceiptSender::Settings s;
  s.url[2] = gw.Url("viber");
  s.delay_ms = 0;
  auto mock = Mock(s);
  SendViber(*mock);
  ASSERT_TRUE(WaitFor([&] { return gw.received().size() == 1; }));
  EXPECT_EQ(gw.posts(), 2);
  EXPECT_NE(mock->receipts().StatsJson().find(R"("retried":1,)"), std::string::npos);

  gw.Answer(401);
  SendViber(*mock);
  ASSERT_TRUE(WaitFor(
      [&] { return mock->receipts().StatsJson().find(R"("refused":1,)") != std::string::npos; }));
  EXPECT_EQ(gw.posts(), 3);  // not posted again
}

TEST_F(MockReceiptsTest, TheControlRouteChangesTheSettingsAndNamesBadFields) {
  Receiver gw;
  auto mock = Mock({});
  // No URL: nothing is posted back.
  SendViber(*mock);
  const auto set = Post(*mock, "/_mock/receipts", {},
                        R"({"urls":{"viber":")" + gw.Url("viber") +
                            R"("},"delivered":0,"failed":1,"delay_ms":0})");
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_NE(set.body.find(R"("failed":1,)"), std::string::npos) << set.body;
  SendViber(*mock);
  ASSERT_TRUE(WaitFor([&] { return gw.received().size() == 1; }));
  EXPECT_NE(gw.received()[0].body.find(R"("event":"failed")"), std::string::npos);
  EXPECT_NE(mock->receipts().StatsJson().find(R"({"scheduled":{"delivered":0,"failed":1,)"),
            std::string::npos);

  for (const auto& [body, names] : std::vector<std::pair<std::string, std::string>>{
           {R"({"delivered":2})", "delivered"},
           {R"({"urls":{"push":"http://127.0.0.1:1/"}})", "urls.push"},
           {R"({"delay":5})", "delay"},
           {R"({"delivered":0.8,"failed":0.5})", "more than 1"},
           {"[1]", "not a JSON object"}}) {
    const auto r = Post(*mock, "/_mock/receipts", {}, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(names), std::string::npos) << r.body;
  }
}

}  // namespace
}  // namespace omnigate::bench
