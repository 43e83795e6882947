// The mock provider's HTTPS listener: the Twilio route answered over TLS to
// curl (HTTP/1.1 and h2 by ALPN) and to the gateway's transport (both
// engines), with the throw-away CA bench/tls_certs.sh makes for the bench,
// and refused to a client that does not trust that CA.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/mock_provider.h"
#include "providers/http/transport.h"
#include "providers/twilio/twilio_provider.h"
#include "tests/support/io_loop.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::bench {
namespace {

using namespace std::chrono_literals;
using omnigate::testing::RunCommand;

class MockProviderTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int rc =
        RunCommand({"bash", std::string(OMNIGATE_SOURCE_DIR) + "/bench/tls_certs.sh", dir_.path()});
    ASSERT_EQ(rc, 0) << "bench/tls_certs.sh failed";
  }

  std::unique_ptr<MockProvider> Mock(MockProvider::Options o = {}) {
    o.tls_cert_file = dir_.File("server.pem");
    o.tls_key_file = dir_.File("server.key");
    auto m = std::make_unique<MockProvider>(std::move(o));
    EXPECT_GT(m->Start(), 0) << m->last_error();
    return m;
  }

  static std::string Base(const MockProvider& m, const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(m.port());
  }

  // curl's exit code; `out` gets "<status> <http version>".
  int CurlTwilio(const MockProvider& m, std::vector<std::string> extra, std::string* out,
                 const std::string& host = "127.0.0.1") {
    std::vector<std::string> argv = {"curl",
                                     "-sS",
                                     "-o",
                                     "/dev/null",
                                     "-w",
                                     "%{http_code} %{http_version}",
                                     "-u",
                                     "ACmock:mock-token",
                                     "--data-urlencode",
                                     "To=+40700000001",
                                     "--data-urlencode",
                                     "From=+15005550006",
                                     "--data-urlencode",
                                     "Body=over TLS"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(Base(m, host) + "/2010-04-01/Accounts/ACmock/Messages.json");
    return RunCommand(argv, out);
  }

  omnigate::testing::TempDir dir_;
};

TEST_F(MockProviderTlsTest, AnswersTwilioToCurlThatTrustsTheCa) {
  auto mock = Mock();
  ASSERT_TRUE(mock->tls());
  std::string out;
  EXPECT_EQ(CurlTwilio(*mock, {"--cacert", dir_.File("ca.pem"), "--http1.1"}, &out), 0);
  EXPECT_EQ(out, "201 1.1");
  EXPECT_EQ(CurlTwilio(*mock, {"--cacert", dir_.File("ca.pem"), "--http2"}, &out, "localhost"), 0);
  EXPECT_EQ(out, "201 2") << "h2 offered by ALPN";
  EXPECT_EQ(mock->api_requests(MockApi::twilio), 2u);
  EXPECT_EQ(mock->h2_connections(), 1u);
  EXPECT_EQ(mock->tls_handshake_failures(), 0u);
}

TEST_F(MockProviderTlsTest, OffersOnlyHttp11WhenHttp2IsOff) {
  auto mock = Mock({.http2 = false});
  std::string out;
  EXPECT_EQ(CurlTwilio(*mock, {"--cacert", dir_.File("ca.pem"), "--http2"}, &out), 0);
  EXPECT_EQ(out, "201 1.1");
  EXPECT_EQ(mock->h2_connections(), 0u);
}

TEST_F(MockProviderTlsTest, RefusedToAClientThatDoesNotTrustTheCa) {
  auto mock = Mock();
  std::string out;
  // The system store does not know the bench CA: CURLE_PEER_FAILED_VERIFICATION.
  EXPECT_EQ(CurlTwilio(*mock, {}, &out), 60);
  // Plain HTTP on the TLS port gets no answer either.
  std::string plain;
  EXPECT_NE(RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://127.0.0.1:" + std::to_string(mock->port()) + "/healthz"},
                       &plain),
            0);
  EXPECT_TRUE(omnigate::testing::WaitFor([&] { return mock->tls_handshake_failures() == 2; }))
      << mock->tls_handshake_failures();
  EXPECT_EQ(mock->api_requests(MockApi::twilio), 0u) << "no request read without TLS";
}

TEST_F(MockProviderTlsTest, MissingKeyOrUnreadableCertificateIsAnError) {
  MockProvider no_key({.tls_cert_file = dir_.File("server.pem")});
  EXPECT_EQ(no_key.Start(), 0);
  EXPECT_NE(no_key.last_error().find("tls_key_file"), std::string::npos) << no_key.last_error();
  MockProvider missing(
      {.tls_cert_file = dir_.File("nope.pem"), .tls_key_file = dir_.File("server.key")});
  EXPECT_EQ(missing.Start(), 0);
  EXPECT_NE(missing.last_error().find("nope.pem"), std::string::npos) << missing.last_error();
}

// The gateway's transport on each engine, as the TLS bench scenarios drive
// it: curl negotiates h2 (many requests multiplexed, answers delayed per
// stream), the HTTP/1.1 client stays on http/1.1; both verify against ca_file.
class MockProviderTlsEngineTest : public MockProviderTlsTest,
                                  public ::testing::WithParamInterface<http::HttpEngine> {};

INSTANTIATE_TEST_SUITE_P(Engines, MockProviderTlsEngineTest,
                         ::testing::Values(http::HttpEngine::curl, http::HttpEngine::native),
                         [](const ::testing::TestParamInfo<http::HttpEngine>& engine) {
                           return engine.param == http::HttpEngine::curl ? "Curl" : "Native";
                         });

TEST_P(MockProviderTlsEngineTest, TwilioAdapterIsAcceptedOverVerifiedTls) {
  auto mock = Mock({.latency_ms = 20});
  boost::asio::io_context io;
  http::Transport transport(io, {.ca_file = dir_.File("ca.pem"), .engine = GetParam()});
  auto config = std::make_shared<providers::TwilioConfig>();
  config->base_url = Base(*mock);
  config->account_sid = "ACmock";
  config->auth_token = "mock-token";
  config->from = "Shop";
  providers::TwilioProvider p("sms", config, transport, 32);
  constexpr int kCount = 32;
  std::vector<std::optional<providers::SendResult>> results(kCount);
  // The message holds views: what they point at must outlive the sends.
  std::vector<std::string> ids;
  std::vector<std::string> phones;
  for (int i = 0; i < kCount; ++i) {
    ids.push_back("req-" + std::to_string(i));
    phones.push_back("+4070000" + std::to_string(1000 + i));
  }
  for (int i = 0; i < kCount; ++i) {
    providers::OutboundMessage msg;
    msg.request_id = ids[i];
    msg.sms = {.to = phones[i], .text = "hi"};
    p.Send(msg, [&results, i](providers::SendResult r) { results[i] = std::move(r); });
  }
  ASSERT_TRUE(omnigate::testing::RunIoUntil(
      io,
      [&] {
        for (const auto& r : results) {
          if (!r) return false;
        }
        return true;
      },
      20s));
  for (const auto& r : results) {
    EXPECT_EQ(r->status, providers::SendStatus::accepted) << r->reason;
    EXPECT_EQ(r->provider_message_id.rfind("SM", 0), 0u);
  }
  EXPECT_EQ(mock->api_requests(MockApi::twilio), static_cast<std::uint64_t>(kCount));
  if (GetParam() == http::HttpEngine::curl) {
    EXPECT_GE(mock->h2_connections(), 1u) << "curl negotiates h2 where offered";
  } else {
    EXPECT_EQ(mock->h2_connections(), 0u);
  }
}

TEST_P(MockProviderTlsEngineTest, UntrustedMockIsATlsError) {
  auto mock = Mock();
  boost::asio::io_context io;
  http::Transport transport(io, {.engine = GetParam()});  // system store only
  std::optional<http::Response> got;
  http::Request r;
  r.url = Base(*mock) + "/healthz";
  r.method = http::Method::get;
  transport.Send(std::move(r), [&](http::Response resp) { got = std::move(resp); });
  ASSERT_TRUE(omnigate::testing::RunIoUntil(
      io, [&] { return got.has_value(); }, 15s));
  EXPECT_EQ(got->error, http::TransportError::tls) << got->error_message;
}

}  // namespace
}  // namespace omnigate::bench
