// The mock provider server, driven through the real HTTP transport and the
// real provider adapters.
#include "bench/mock_provider.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <ctime>
#include <functional>
#include <optional>

#include "providers/generic/generic_provider.h"
#include "providers/http/transport.h"
#include "providers/sendgrid/sendgrid_provider.h"
#include "providers/twilio/twilio_provider.h"
#include "providers/viber/viber_provider.h"
#include "providers/webpush/webpush_crypto.h"
#include "providers/webpush/webpush_provider.h"
#include "tests/support/wait.h"
#include "tests/support/io_loop.h"

namespace omnigate::bench {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using providers::SendResult;
using providers::SendStatus;

// A syntactically valid VAPID header: the mock checks the shape, not the signature.
std::string FakeVapid() {
  return "Authorization: vapid t=eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2ln, k=" +
         std::string(87, 'B');
}

// An aes128gcm body of `size` bytes with a well-formed header (idlen = 65).
std::string FakePushBody(std::size_t size) {
  std::string body(size, 'x');
  body[20] = 65;
  return body;
}

class MockProviderTest : public ::testing::Test {
 protected:
  // Runs the io_context until `done` or the deadline; returns `done()`.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
    return omnigate::testing::RunIoUntil(io_, done, deadline);
  }

  std::unique_ptr<MockProvider> Mock(MockProvider::Options o = {}) {
    auto m = std::make_unique<MockProvider>(std::move(o));
    EXPECT_GT(m->Start(), 0) << m->last_error();
    return m;
  }

  static std::string Base(const MockProvider& m) {
    return "http://127.0.0.1:" + std::to_string(m.port());
  }

  http::Response Exchange(http::Request r) {
    std::optional<http::Response> got;
    transport_.Send(std::move(r), [&](http::Response resp) { got = std::move(resp); });
    EXPECT_TRUE(RunUntil([&] { return got.has_value(); }));
    if (!got) return {};
    EXPECT_EQ(got->error, http::TransportError::none) << got->error_message;
    return *std::move(got);
  }

  http::Response Post(const MockProvider& m, const std::string& path,
                      std::vector<std::string> headers, std::string body) {
    http::Request r;
    r.url = Base(m) + path;
    r.headers = std::move(headers);
    r.body = std::move(body);
    return Exchange(std::move(r));
  }

  SendResult SendVia(providers::Provider& p, const providers::OutboundMessage& message) {
    std::optional<SendResult> got;
    p.Send(message, [&](SendResult r) { got = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return got.has_value(); }));
    return got.value_or(SendResult{});
  }

  // One message through each adapter, pointed at `m`.
  SendResult SendGrid(const MockProvider& m, const std::string& key = "SG.mock") {
    auto config = std::make_shared<providers::SendGridConfig>();
    config->base_url = Base(m);
    config->api_key = key;
    config->from = "Shop <shop@example.com>";
    providers::SendGridProvider p("email-sg", config, transport_, 8);
    providers::OutboundMessage msg;
    msg.request_id = "req-1";
    msg.channel = Channel::email;
    msg.email = {.to = "ana@example.com", .subject = "Hi", .text = "Hello \"Ana\"\n"};
    return SendVia(p, msg);
  }

  SendResult Viber(const MockProvider& m, const std::string& token = "viber-mock") {
    auto config = std::make_shared<providers::ViberConfig>();
    config->base_url = Base(m);
    config->auth_token = token;
    config->sender_name = "Shop";
    providers::ViberProvider p("viber-main", config, transport_, 8);
    providers::OutboundMessage msg;
    msg.request_id = "req-2";
    msg.channel = Channel::viber;
    msg.viber = {.to = "01234567890A=", .text = "tab\there \x01 bad utf8 \xff end"};
    return SendVia(p, msg);
  }

  SendResult Generic(const MockProvider& m) {
    providers::GenericHttpConfig c;
    c.url = Base(m) + "/generic/send";
    c.headers = {{"Content-Type", "application/json"}};
    c.body = R"({"to":{{to|json}},"text":{{text|json}},"id":{{id|json}}})";
    c.success_json_pointer = "/status";
    c.success_equals = "ok";
    c.message_id_json_pointer = "/message_id";
    c.invalid_address_regex = "invalid_number";
    auto compiled = providers::CompiledGenericHttp::Compile(std::move(c));
    EXPECT_TRUE(compiled.has_value());
    if (!compiled) return {};
    providers::GenericHttpProvider p("sms-generic", *compiled, transport_, 8);
    providers::OutboundMessage msg;
    msg.request_id = "req-3";
    msg.channel = Channel::sms;
    msg.sms = {.to = "+40700000003", .text = "Your code is 123456"};
    return SendVia(p, msg);
  }

  SendResult WebPush(const MockProvider& m, std::size_t payload_size = 40) {
    auto config = std::make_shared<providers::WebPushConfig>();
    config->vapid_subject = "mailto:ops@example.com";
    config->endpoint_origin_override = Base(m);
    providers::WebPushProvider p("push", config, providers::webpush::VapidKey::Generate(),
                                 transport_, 8);
    // The subscriber's side: a P-256 key pair and an auth secret.
    const auto ua = providers::webpush::VapidKey::Generate();
    const std::string p256dh = ua.PublicKeyBase64Url();
    const std::string auth = providers::webpush::Base64UrlEncode("0123456789abcdef");
    const std::string payload(payload_size, 'p');
    providers::OutboundMessage msg;
    msg.request_id = "req-4";
    msg.channel = Channel::webpush;
    msg.webpush = {.endpoint = "https://push.example.net/push/sub-abc_123",
                   .p256dh = p256dh,
                   .auth = auth,
                   .payload = payload,
                   .ttl = 60s,
                   .topic = "news"};
    return SendVia(p, msg);
  }

  asio::io_context io_;
  http::Transport transport_{io_, {}};
};

// ------------------------------------------------------------ raw HTTP shapes

TEST_F(MockProviderTest, SendGridAcceptsWith202AndAMessageIdHeader) {
  auto mock = Mock();
  const auto r = Post(*mock, "/v3/mail/send",
                      {"Authorization: Bearer SG.mock", "Content-Type: application/json"},
                      R"({"personalizations":[{"to":[{"email":"a@example.com"}]}],)"
                      R"("from":{"email":"shop@example.com"},"subject":"s",)"
                      R"("content":[{"type":"text/plain","value":"v"}]})");
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.body.empty()) << r.body;
  ASSERT_NE(r.header("x-message-id"), nullptr);
  EXPECT_FALSE(r.header("x-message-id")->empty());
}

TEST_F(MockProviderTest, SendGridRefusesBadKeysAndBadBodies) {
  auto mock = Mock({.sendgrid_api_key = "SG.right"});
  const std::vector<std::string> good = {"Authorization: Bearer SG.right"};
  const auto wrong = Post(*mock, "/v3/mail/send", {"Authorization: Bearer SG.mock"}, "{}");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body,
            R"({"errors":[{"message":"The provided authorization grant is invalid, expired, )"
            R"(or revoked","field":null,"help":null}]})");
  const auto malformed = Post(*mock, "/v3/mail/send", good, R"({"personalizations":[)");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find(R"({"errors":[{"message":)"), std::string::npos);
  const auto no_personalizations = Post(*mock, "/v3/mail/send", good, R"({"from":{}})");
  EXPECT_EQ(no_personalizations.status, 400);
  EXPECT_NE(no_personalizations.body.find(R"("field":"personalizations")"), std::string::npos);
  const auto no_to = Post(*mock, "/v3/mail/send", good, R"({"personalizations":[{"to":[]}]})");
  EXPECT_EQ(no_to.status, 400);
  EXPECT_NE(no_to.body.find(R"("field":"personalizations.0.to")"), std::string::npos);
  const auto bad_address =
      Post(*mock, "/v3/mail/send", good,
           R"({"personalizations":[{"to":[{"email":"nobody"}]}],"from":{"email":"a@b.co"}})");
  EXPECT_EQ(bad_address.status, 400);
  EXPECT_NE(bad_address.body.find(R"("field":"personalizations.0.to.0.email")"), std::string::npos);
}

TEST_F(MockProviderTest, SendGridThrottleCarriesRateLimitReset) {
  auto mock = Mock({.throttle_rate = 1.0});
  const std::int64_t before = std::time(nullptr);
  const auto r =
      Post(*mock, "/v3/mail/send", {"Authorization: Bearer SG.mock"},
           R"({"personalizations":[{"to":[{"email":"a@b.co"}]}],"from":{"email":"c@d.co"}})");
  EXPECT_EQ(r.status, 429);
  ASSERT_NE(r.header("x-ratelimit-reset"), nullptr);
  std::int64_t reset = 0;
  const std::string& v = *r.header("x-ratelimit-reset");
  std::from_chars(v.data(), v.data() + v.size(), reset);
  EXPECT_GE(reset, before + 1);
  EXPECT_LE(reset, std::int64_t{std::time(nullptr)} + 1);
  ASSERT_NE(r.header("retry-after"), nullptr);
  EXPECT_EQ(*r.header("retry-after"), "1");
}

TEST_F(MockProviderTest, ViberAnswersInTheBodyWithHttp200) {
  auto mock = Mock();
  const std::string body = R"({"receiver":"abc==","sender":{"name":"S"},"type":"text","text":"t"})";
  const auto ok = Post(*mock, "/pa/send_message", {"X-Viber-Auth-Token: viber-mock"}, body);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.rfind(R"({"status":0,"status_message":"ok","message_token":)", 0), 0u)
      << ok.body;
  EXPECT_NE(ok.body.find(R"("chat_hostname":"SN-CHAT-01_")"), std::string::npos);
  // Header names are case-insensitive.
  const auto lower = Post(*mock, "/pa/send_message", {"x-viber-auth-token: viber-mock"}, body);
  EXPECT_EQ(lower.body.rfind(R"({"status":0,)", 0), 0u) << lower.body;
  const auto wrong = Post(*mock, "/pa/send_message", {"X-Viber-Auth-Token: nope"}, body);
  EXPECT_EQ(wrong.status, 200);
  EXPECT_EQ(wrong.body, R"({"status":2,"status_message":"invalidAuthToken"})");
  const auto bad = Post(*mock, "/pa/send_message", {"X-Viber-Auth-Token: viber-mock"}, "{");
  EXPECT_EQ(bad.body, R"({"status":3,"status_message":"badData"})");
}

TEST_F(MockProviderTest, PushServiceChecksHeadersAndBodySize) {
  auto mock = Mock();
  const std::string path = "/push/sub-1";
  auto headers = [](bool vapid, bool encoding, bool ttl) {
    std::vector<std::string> h;
    if (vapid) h.push_back(FakeVapid());
    if (encoding) h.emplace_back("Content-Encoding: aes128gcm");
    if (ttl) h.emplace_back("TTL: 60");
    return h;
  };
  const auto ok = Post(*mock, path, headers(true, true, true), FakePushBody(200));
  EXPECT_EQ(ok.status, 201);
  EXPECT_TRUE(ok.body.empty());
  ASSERT_NE(ok.header("location"), nullptr);
  EXPECT_EQ(ok.header("location")->rfind("/push-message/", 0), 0u);
  EXPECT_EQ(Post(*mock, path, headers(false, true, true), FakePushBody(200)).status, 401);
  EXPECT_EQ(Post(*mock, path, {"Authorization: Bearer x", "Content-Encoding: aes128gcm", "TTL: 1"},
                 FakePushBody(200))
                .status,
            401);
  EXPECT_EQ(Post(*mock, path, headers(true, false, true), FakePushBody(200)).status, 400);
  EXPECT_EQ(
      Post(*mock, path, {FakeVapid(), "Content-Encoding: aesgcm", "TTL: 1"}, FakePushBody(200))
          .status,
      400);
  EXPECT_EQ(Post(*mock, path, headers(true, true, false), FakePushBody(200)).status, 400);
  EXPECT_EQ(Post(*mock, path, headers(true, true, true), FakePushBody(86 + 16)).status, 400);
  EXPECT_EQ(Post(*mock, path, headers(true, true, true), FakePushBody(86 + 17)).status, 201);
  EXPECT_EQ(Post(*mock, path, headers(true, true, true), FakePushBody(4096)).status, 201);
  EXPECT_EQ(Post(*mock, path, headers(true, true, true), FakePushBody(4097)).status, 413);
}

TEST_F(MockProviderTest, GenericEndpointAnswersEachOutcome) {
  auto ok = Mock();
  auto invalid = Mock({.invalid_number_rate = 1.0});
  auto throttled = Mock({.throttle_rate = 1.0});
  auto failing = Mock({.error_rate = 1.0});
  const auto r = Post(*ok, "/generic/send", {"Content-Type: text/plain"}, "anything");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind(R"({"status":"ok","message_id":"gen-)", 0), 0u) << r.body;
  const auto i = Post(*invalid, "/generic/send", {}, "x");
  EXPECT_EQ(i.status, 400);
  EXPECT_EQ(i.body, R"({"status":"error","error":"invalid_number"})");
  const auto t = Post(*throttled, "/generic/send", {}, "x");
  EXPECT_EQ(t.status, 429);
  ASSERT_NE(t.header("retry-after"), nullptr);
  EXPECT_EQ(Post(*failing, "/generic/send", {}, "x").status, 500);
}

TEST_F(MockProviderTest, UnknownRoutesAndMethods) {
  auto mock = Mock();
  EXPECT_EQ(Post(*mock, "/nowhere", {}, "x").status, 404);
  EXPECT_EQ(Post(*mock, "/push/", {}, "x").status, 404);
  http::Request get;
  get.method = http::Method::get;
  get.url = Base(*mock) + "/v3/mail/send";
  EXPECT_EQ(Exchange(get).status, 405);
  get.url = Base(*mock) + "/healthz";
  EXPECT_EQ(Exchange(get).status, 200);
}

TEST_F(MockProviderTest, GenericEndpointTakesTheMessageInTheQueryString) {
  auto mock = Mock({.keep_in_memory = true});
  http::Request get;
  get.method = http::Method::get;
  get.url = Base(*mock) + "/generic/send?from=Shop&to=%2B40700000001&text=hi";
  const auto r = Exchange(get);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("status":"ok")"), std::string::npos) << r.body;
  const auto received = mock->Received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].to, "+40700000001");
}

TEST_F(MockProviderTest, StatsCountRequestsPerApi) {
  auto mock = Mock();
  EXPECT_EQ(SendGrid(*mock).status, SendStatus::accepted);
  EXPECT_EQ(Viber(*mock).status, SendStatus::accepted);
  EXPECT_EQ(Viber(*mock).status, SendStatus::accepted);
  EXPECT_EQ(Generic(*mock).status, SendStatus::accepted);
  EXPECT_EQ(WebPush(*mock).status, SendStatus::accepted);
  http::Request get;
  get.method = http::Method::get;
  get.url = Base(*mock) + "/_mock/stats";
  const auto r = Exchange(get);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  auto count = [&doc](std::string_view pointer) {
    std::uint64_t n = 999;
    EXPECT_EQ(doc.at_pointer(pointer).get(n), simdjson::SUCCESS) << pointer;
    return n;
  };
  EXPECT_EQ(count("/apis/twilio"), 0u);
  EXPECT_EQ(count("/apis/sendgrid"), 1u);
  EXPECT_EQ(count("/apis/viber"), 2u);
  EXPECT_EQ(count("/apis/generic"), 1u);
  EXPECT_EQ(count("/apis/push"), 1u);
  EXPECT_EQ(count("/status/200"), 3u);
  EXPECT_EQ(count("/status/201"), 1u);
  EXPECT_EQ(count("/status/202"), 1u);
  EXPECT_EQ(count("/requests"), 6u);
  EXPECT_EQ(mock->api_requests(MockApi::viber), 2u);
}

// ------------------------------------------------------------ real adapters

TEST_F(MockProviderTest, EveryAdapterIsAcceptedWithAProviderMessageId) {
  auto mock = Mock({.keep_in_memory = true});
  const auto sg = SendGrid(*mock);
  EXPECT_EQ(sg.status, SendStatus::accepted) << sg.reason;
  const auto vb = Viber(*mock);
  ASSERT_EQ(vb.status, SendStatus::accepted) << vb.reason;
  EXPECT_GT(std::stoull(vb.provider_message_id), 4'000'000'000'000'000'000ULL);
  const auto gen = Generic(*mock);
  EXPECT_EQ(gen.status, SendStatus::accepted) << gen.reason;
  EXPECT_EQ(gen.provider_message_id.rfind("gen-", 0), 0u);
  const auto push = WebPush(*mock);
  EXPECT_EQ(push.status, SendStatus::accepted) << push.reason;
  EXPECT_EQ(push.provider_message_id.rfind("/push-message/", 0), 0u);

  const auto received = mock->Received();
  ASSERT_EQ(received.size(), 4u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"sendgrid", "ana@example.com"},
      {"viber", "01234567890A="},
      {"generic", "+40700000003"},
      {"push", "sub-abc_123"}};
  const std::vector<std::string> ids = {sg.provider_message_id, vb.provider_message_id,
                                        gen.provider_message_id, push.provider_message_id};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(received[i].api, expected[i].first);
    EXPECT_EQ(received[i].to, expected[i].second);
    EXPECT_FALSE(ids[i].empty());
    EXPECT_EQ(received[i].id, ids[i]);
  }
  // The push body is recorded as base64url of the encrypted record.
  const auto push_body = providers::webpush::Base64UrlDecode(received[3].body);
  ASSERT_TRUE(push_body.has_value());
  EXPECT_EQ(push_body->size(), 86u + 40u + 1u + 16u);
}

TEST_F(MockProviderTest, TwilioAdapterStillAccepted) {
  auto mock = Mock();
  auto config = std::make_shared<providers::TwilioConfig>();
  config->base_url = Base(*mock);
  config->account_sid = "ACmock";
  config->auth_token = "mock-token";
  config->from = "Shop";
  providers::TwilioProvider p("sms", config, transport_, 8);
  providers::OutboundMessage msg;
  msg.request_id = "req-5";
  msg.sms = {.to = "+40700000005", .text = "hi"};
  const auto r = SendVia(p, msg);
  EXPECT_EQ(r.status, SendStatus::accepted) << r.reason;
  EXPECT_EQ(r.provider_message_id.rfind("SM", 0), 0u);
  EXPECT_EQ(mock->api_requests(MockApi::twilio), 1u);
}

TEST_F(MockProviderTest, InvalidRecipientOutcomeMapsToInvalidAddress) {
  auto mock = Mock({.invalid_number_rate = 1.0});
  const auto sg = SendGrid(*mock);
  EXPECT_EQ(sg.status, SendStatus::invalid_address);
  EXPECT_EQ(sg.reason, "http_400");
  const auto vb = Viber(*mock);
  EXPECT_EQ(vb.status, SendStatus::invalid_address);
  EXPECT_EQ(vb.reason, "viber_6");
  const auto gen = Generic(*mock);
  EXPECT_EQ(gen.status, SendStatus::invalid_address);
  EXPECT_EQ(gen.reason, "http_400");
  const auto push = WebPush(*mock);
  EXPECT_EQ(push.status, SendStatus::invalid_address);
  EXPECT_EQ(push.reason, "subscription_gone");
}

TEST_F(MockProviderTest, GoneOutcomeIs410ForPushAndInvalidElsewhere) {
  auto mock = Mock({.gone_rate = 1.0});
  const auto push = WebPush(*mock);
  EXPECT_EQ(push.status, SendStatus::invalid_address);
  EXPECT_EQ(push.reason, "subscription_gone");
  EXPECT_EQ(mock->status_counts()[410], 1u);
  EXPECT_EQ(SendGrid(*mock).status, SendStatus::invalid_address);
  EXPECT_EQ(Viber(*mock).status, SendStatus::invalid_address);
  EXPECT_EQ(Generic(*mock).status, SendStatus::invalid_address);
}

TEST_F(MockProviderTest, ThrottleOutcomeMapsToThrottledWithRetryAfter) {
  auto mock = Mock({.throttle_rate = 1.0});
  for (const SendResult& r : {SendGrid(*mock), Viber(*mock), Generic(*mock), WebPush(*mock)}) {
    EXPECT_EQ(r.status, SendStatus::throttled) << r.reason;
    EXPECT_GE(r.retry_after, 1s) << r.reason;
    EXPECT_LE(r.retry_after, 2s) << r.reason;
  }
  EXPECT_EQ(Viber(*mock).reason, "viber_12");
}

TEST_F(MockProviderTest, ErrorOutcomeIsRetried) {
  auto mock = Mock({.error_rate = 1.0});
  for (const SendResult& r : {SendGrid(*mock), Viber(*mock), Generic(*mock), WebPush(*mock)}) {
    EXPECT_EQ(r.status, SendStatus::retry);
    EXPECT_EQ(r.reason, "http_500");
  }
}

TEST_F(MockProviderTest, WrongCredentialsArePermanentAuthFailures) {
  auto mock = Mock();
  const auto sg = SendGrid(*mock, "SG.wrong");
  EXPECT_EQ(sg.status, SendStatus::permanent);
  EXPECT_EQ(sg.reason, "auth");
  const auto vb = Viber(*mock, "wrong");
  EXPECT_EQ(vb.status, SendStatus::permanent);
  EXPECT_EQ(vb.reason, "auth");
}

// ------------------------------------------------------------ recording

TEST_F(MockProviderTest, RecordsEveryApiAsValidJsonLines) {
  testing::TempDir dir;
  const std::string path = dir.File("mock.jsonl");
  auto mock = Mock({.record_path = path});
  EXPECT_EQ(SendGrid(*mock).status, SendStatus::accepted);
  EXPECT_EQ(Viber(*mock).status, SendStatus::accepted);
  EXPECT_EQ(Generic(*mock).status, SendStatus::accepted);
  EXPECT_EQ(WebPush(*mock).status, SendStatus::accepted);
  // Raw bytes a JSON writer must escape or replace.
  EXPECT_EQ(Post(*mock, "/generic/send", {"Content-Type: application/x-www-form-urlencoded"},
                 std::string("to=%2B4071&text=\"q\"\\\x02\xc3\x28", 23))
                .status,
            200);
  mock->Stop();

  const std::string text = testing::ReadFile(path);
  std::vector<std::pair<std::string, std::string>> seen;  // api, to
  simdjson::dom::parser parser;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto eol = text.find('\n', pos);
    ASSERT_NE(eol, std::string::npos);
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    std::string_view api;
    std::string_view to;
    std::string_view body;
    ASSERT_EQ(doc["api"].get(api), simdjson::SUCCESS);
    ASSERT_EQ(doc["to"].get(to), simdjson::SUCCESS);
    ASSERT_EQ(doc["body"].get(body), simdjson::SUCCESS);
    EXPECT_FALSE(body.empty()) << line;
    seen.emplace_back(api, to);
  }
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"sendgrid", "ana@example.com"},
      {"viber", "01234567890A="},
      {"generic", "+40700000003"},
      {"push", "sub-abc_123"},
      {"generic", "+4071"}};
  EXPECT_EQ(seen, expected);
}

// ------------------------------------------------------------ latency

TEST_F(MockProviderTest, PerApiLatencyOverridesTheDefault) {
  auto mock = Mock({.latency_ms_by_api = {{"viber", 300}}});
  const auto slow = Viber(*mock);
  EXPECT_EQ(slow.status, SendStatus::accepted);
  EXPECT_GE(slow.latency, 300ms);

  MockProvider bad({.latency_ms_by_api = {{"fax", 1}}});
  EXPECT_EQ(bad.Start(), 0);
  EXPECT_NE(bad.last_error().find("fax"), std::string::npos);
}

TEST(MockProviderDelay, UniformExponentialAndPerApi) {
  const MockProvider::Header json = {"Content-Type", "application/json"};
  const MockProvider::Request generic{
      .method = "POST", .target = "/generic/send", .headers = {&json, 1}, .body = R"({"to":"x"})"};
  std::uint64_t state = 42;
  auto next = [&state] {
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };

  MockProvider fixed({.latency_ms = 10, .latency_ms_by_api = {{"generic", 7}}});
  EXPECT_EQ(fixed.Handle(generic, next()).delay, 7ms);
  MockProvider::Request viber = generic;
  viber.target = "/pa/send_message";
  EXPECT_EQ(fixed.Handle(viber, next()).delay, 10ms);

  MockProvider exp({.latency_ms = 10, .latency_distribution = LatencyDistribution::exponential});
  constexpr int kDraws = 20000;
  double sum_ms = 0;
  std::chrono::microseconds lo = 1h;
  std::chrono::microseconds hi{0};
  for (int i = 0; i < kDraws; ++i) {
    const auto d = exp.Handle(generic, next()).delay;
    sum_ms += static_cast<double>(d.count()) / 1000.0;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_NEAR(sum_ms / kDraws, 10.0, 0.5);
  EXPECT_LT(lo, 1ms);
  EXPECT_GT(hi, 40ms);
  EXPECT_EQ(exp.api_requests(MockApi::generic), static_cast<std::uint64_t>(kDraws));
}

}  // namespace
}  // namespace omnigate::bench
