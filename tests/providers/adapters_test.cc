#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <simdjson.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "providers/generic/generic_provider.h"
#include "providers/sendgrid/sendgrid_provider.h"
#include "providers/viber/viber_provider.h"
#include "providers/webpush/webpush_provider.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"
#include "tests/support/io_loop.h"

// Each adapter's Send through the real http::Transport against a capture
// server: what goes on the wire and what comes back.

namespace omnigate::providers {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

// --------------------------------------------------------------- end to end

// A browser's push subscription: a P-256 key pair and an auth secret.
struct Subscriber {
  std::string private_raw;  // 32-byte scalar
  std::string public_raw;   // 65-byte uncompressed point
  std::string auth;         // 16 bytes
};

Subscriber NewSubscriber() {
  Subscriber s;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  EXPECT_NE(ctx, nullptr);
  EXPECT_EQ(EVP_PKEY_keygen_init(ctx), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_group_name(ctx, "P-256"), 1);
  EXPECT_EQ(EVP_PKEY_generate(ctx, &key), 1);
  EVP_PKEY_CTX_free(ctx);

  BIGNUM* d = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
  s.private_raw.resize(32);
  EXPECT_EQ(BN_bn2binpad(d, reinterpret_cast<unsigned char*>(s.private_raw.data()), 32), 32);
  BN_clear_free(d);

  s.public_raw.resize(65);
  std::size_t length = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
                                            reinterpret_cast<unsigned char*>(s.public_raw.data()),
                                            s.public_raw.size(), &length),
            1);
  EXPECT_EQ(length, 65u);
  EXPECT_EQ(s.public_raw[0], '\x04');
  EVP_PKEY_free(key);

  s.auth.resize(16);
  EXPECT_EQ(RAND_bytes(reinterpret_cast<unsigned char*>(s.auth.data()), 16), 1);
  return s;
}

// Accepts connections on 127.0.0.1 and keeps every request. Answers with
// `answer` (201 with a Location naming the request unless set otherwise).
struct Answer {
  bhttp::status status = bhttp::status::created;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool location = true;
};

class CaptureServer {
 public:
  explicit CaptureServer(asio::io_context& io, Answer answer = {})
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), answer_(std::move(answer)) {
    Accept();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port()); }
  const std::vector<bhttp::request<bhttp::string_body>>& requests() const { return requests_; }
  int connections() const { return connections_; }
  static std::string LocationOf(std::size_t n) {
    return "https://push.example.net/message/m-" + std::to_string(n);
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(tcp::socket s, CaptureServer* owner) : socket(std::move(s)), server(owner) {}

    void Read() {
      request = {};
      bhttp::async_read(socket, buffer, request,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (!ec) self->Respond();
                        });
    }

    void Respond() {
      server->requests_.push_back(request);
      const Answer& a = server->answer_;
      response = {a.status, request.version()};
      if (a.location) response.set(bhttp::field::location, LocationOf(server->requests_.size()));
      for (const auto& [name, value] : a.headers) response.set(name, value);
      response.body() = a.body;
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      bhttp::async_write(socket, response,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           if (!ec && self->response.keep_alive()) self->Read();
                         });
    }

    tcp::socket socket;
    CaptureServer* server;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> request;
    bhttp::response<bhttp::string_body> response;
  };

  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      std::make_shared<Session>(std::move(socket), this)->Read();
      Accept();
    });
  }

  tcp::acceptor acceptor_;
  Answer answer_;
  std::vector<bhttp::request<bhttp::string_body>> requests_;
  int connections_ = 0;
};

// Runs the io_context until `done` or the deadline; returns `done()`.
class AsioTest : public ::testing::Test {
 protected:
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = 20s) {
    return omnigate::testing::RunIoUntil(io_, done, deadline);
  }

  // Sends one message through `provider` and waits for its result.
  std::optional<SendResult> SendAndWait(Provider& provider, const OutboundMessage& m) {
    std::optional<SendResult> result;
    provider.Send(m, [&](SendResult r) { result = std::move(r); });
    if (!RunUntil([&] { return result.has_value(); })) ADD_FAILURE() << "no result in time";
    return result;
  }

  asio::io_context io_;
};

// Parses a request body, failing the test when it is not JSON.
class Json {
 public:
  explicit Json(const std::string& json) {
    EXPECT_EQ(parser_.parse(json).get(root_), simdjson::SUCCESS) << json;
  }
  std::string Str(std::string_view pointer) const {
    std::string_view s;
    EXPECT_EQ(root_.at_pointer(pointer).get(s), simdjson::SUCCESS) << pointer;
    return std::string(s);
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

std::string B64(std::string_view bytes) { return webpush::Base64UrlEncode(bytes); }

// Runs tests/node/<script> on a JSON input file; returns its stdout.
std::string RunNodeWithInput(const std::string& script, const std::string& json, int* exit_code) {
  testing::TempDir dir;
  const std::string path = dir.File("input.json");
  std::ofstream(path) << json;
  std::string out;
  *exit_code = testing::RunCommand(
      {"node", std::string(OMNIGATE_SOURCE_DIR) + "/tests/node/" + script, path}, &out, 30'000);
  return out;
}

class WebPushProviderTest : public AsioTest {
 protected:
  static constexpr char kEndpoint[] = "https://push.example.net/push/abc";

  std::shared_ptr<WebPushConfig> Config(std::uint16_t port) {
    auto cfg = std::make_shared<WebPushConfig>();
    cfg->vapid_private_key = vapid_.PrivateKeyBase64Url();
    cfg->vapid_subject = "mailto:ops@example.com";
    cfg->endpoint_origin_override = "http://127.0.0.1:" + std::to_string(port);
    cfg->http.timeout = 10s;
    return cfg;
  }

  // A message for `subscriber_`; the views point into members of the fixture.
  OutboundMessage Message(std::string_view payload, std::string_view topic = {}) {
    OutboundMessage m;
    m.request_id = "req-1";
    m.tenant = "acme";
    m.channel = Channel::webpush;
    m.webpush = {.endpoint = kEndpoint,
                 .p256dh = p256dh_,
                 .auth = auth_,
                 .payload = payload,
                 .ttl = 3600s,
                 .urgency = PushUrgency::high,
                 .topic = topic};
    return m;
  }

  webpush::VapidKey vapid_ = webpush::VapidKey::Generate();
  Subscriber subscriber_ = NewSubscriber();
  const std::string p256dh_ = B64(subscriber_.public_raw);
  const std::string auth_ = B64(subscriber_.auth);
};

// Splits "vapid t=<jwt>, k=<key>".
struct VapidAuthorization {
  std::string jwt;
  std::string key;
};

std::optional<VapidAuthorization> ParseVapid(std::string_view header) {
  constexpr std::string_view kPrefix = "vapid t=";
  const auto comma = header.find(", k=");
  if (!header.starts_with(kPrefix) || comma == std::string_view::npos) return std::nullopt;
  return VapidAuthorization{std::string(header.substr(kPrefix.size(), comma - kPrefix.size())),
                            std::string(header.substr(comma + 4))};
}

TEST_F(WebPushProviderTest, SendsAnEncryptedVapidSignedPush) {
  CaptureServer server(io_);
  http::Transport transport(io_, {});
  WebPushProvider provider("push-main", Config(server.port()), vapid_, transport, 4);
  EXPECT_EQ(provider.channel(), Channel::webpush);

  const std::string payload =
      R"({"title":"Order shipped","body":"Grüße ✓ 🍉","url":"https://shop.example/o/7781"})";
  const std::int64_t before = std::time(nullptr);
  std::optional<SendResult> result;
  provider.Send(Message(payload, "order-7781"), [&](SendResult r) { result = std::move(r); });
  EXPECT_FALSE(result.has_value()) << "must not complete before the exchange";
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  const std::int64_t after = std::time(nullptr);

  EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  EXPECT_EQ(result->provider_message_id, CaptureServer::LocationOf(1));
  EXPECT_EQ(provider.in_flight(), 1u) << "the caller holds the send's slot until it lets go";
  result->slot.Release();
  EXPECT_EQ(provider.in_flight(), 0u);
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];

  EXPECT_EQ(req.method(), bhttp::verb::post);
  EXPECT_EQ(req.target(), "/push/abc");
  EXPECT_EQ(req["TTL"], "3600");
  EXPECT_EQ(req["Urgency"], "high");
  EXPECT_EQ(req["Topic"], "order-7781");
  EXPECT_EQ(req["Content-Encoding"], "aes128gcm");
  EXPECT_EQ(req["Content-Type"], "application/octet-stream");

  // VAPID: the JWT names the real push service, not the override.
  const auto vapid = ParseVapid(req[bhttp::field::authorization]);
  ASSERT_TRUE(vapid.has_value()) << req[bhttp::field::authorization];
  EXPECT_EQ(vapid->key, vapid_.PublicKeyBase64Url());
  const auto dot1 = vapid->jwt.find('.');
  const auto dot2 = vapid->jwt.find('.', dot1 + 1);
  ASSERT_NE(dot2, std::string::npos) << vapid->jwt;
  const auto claims = webpush::Base64UrlDecode(vapid->jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  ASSERT_TRUE(claims.has_value());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(*claims).get(doc), simdjson::SUCCESS) << *claims;
  std::string_view aud;
  std::string_view sub;
  std::int64_t exp = 0;
  ASSERT_EQ(doc["aud"].get(aud), simdjson::SUCCESS);
  ASSERT_EQ(doc["sub"].get(sub), simdjson::SUCCESS);
  ASSERT_EQ(doc["exp"].get(exp), simdjson::SUCCESS);
  EXPECT_EQ(aud, "https://push.example.net");
  EXPECT_EQ(sub, "mailto:ops@example.com");
  EXPECT_GE(exp, before + 12 * 3600);
  EXPECT_LE(exp, after + 12 * 3600);
  EXPECT_LE(exp - after, 24 * 3600) << "RFC 8292 caps the lifetime at 24 h";

  int code = 0;
  EXPECT_EQ(RunNodeWithInput(
                "vapid_verify.js",
                "{\"jwt\":\"" + vapid->jwt + "\",\"public_key\":\"" + vapid->key + "\"}", &code),
            "ok");
  EXPECT_EQ(code, 0);

  // The body is what a browser can decrypt.
  const std::string decrypted = RunNodeWithInput(
      "webpush_decrypt.js",
      "{\"body_b64url\":\"" + B64(req.body()) + "\",\"ua_private\":\"" +
          B64(subscriber_.private_raw) + "\",\"ua_public\":\"" + B64(subscriber_.public_raw) +
          "\",\"auth\":\"" + B64(subscriber_.auth) + "\"}",
      &code);
  EXPECT_EQ(code, 0) << decrypted;
  EXPECT_EQ(decrypted, payload);
}

// An endpoint is whatever URL a publisher wrote. One on an internal address
// fails for good with a reason that says nothing about the address, and no
// connection is made; the provider's destination_allowlist lets it through.
TEST_F(WebPushProviderTest, EndpointOnAnInternalAddressIsRefusedUnlessAllowListed) {
  CaptureServer server(io_);
  const std::string endpoint = server.origin() + "/push/abc";
  auto cfg = Config(server.port());
  cfg->endpoint_origin_override.clear();
  for (const http::HttpEngine engine : {http::HttpEngine::curl, http::HttpEngine::native}) {
    http::Transport transport(io_, {.engine = engine});
    WebPushProvider provider("push-main", cfg, vapid_, transport, 4);
    OutboundMessage m = Message("hello");
    m.webpush.endpoint = endpoint;
    const auto result = SendAndWait(provider, m);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->status, SendStatus::permanent);
    EXPECT_EQ(result->reason, "destination_not_allowed");
    EXPECT_TRUE(result->provider_message_id.empty());
  }
  EXPECT_EQ(server.connections(), 0);

  http::Transport allowing(io_, {.destination_allowlist = {*http::Cidr::Parse("127.0.0.1/32")}});
  WebPushProvider provider("push-main", cfg, vapid_, allowing, 4);
  OutboundMessage m = Message("hello");
  m.webpush.endpoint = endpoint;
  const auto result = SendAndWait(provider, m);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(WebPushProviderTest, SecondSendReusesTheSignedJwt) {
  CaptureServer server(io_);
  http::Transport transport(io_, {});
  WebPushProvider provider("push-main", Config(server.port()), vapid_, transport, 4);

  std::vector<SendResult> results;
  provider.Send(Message("one"), [&](SendResult r) { results.push_back(std::move(r)); });
  ASSERT_TRUE(RunUntil([&] { return results.size() == 1; }));
  provider.Send(Message("two"), [&](SendResult r) { results.push_back(std::move(r)); });
  ASSERT_TRUE(RunUntil([&] { return results.size() == 2; }));

  EXPECT_EQ(results[0].provider_message_id, CaptureServer::LocationOf(1));
  EXPECT_EQ(results[1].provider_message_id, CaptureServer::LocationOf(2));
  ASSERT_EQ(server.requests().size(), 2u);
  const auto first = server.requests()[0][bhttp::field::authorization];
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(server.requests()[1][bhttp::field::authorization], first);
  // No Topic header without a topic.
  EXPECT_EQ(server.requests()[0].count("Topic"), 0u);
  // Each message has its own salt and ephemeral key.
  EXPECT_NE(server.requests()[0].body().substr(0, 86), server.requests()[1].body().substr(0, 86));
}

TEST_F(WebPushProviderTest, BadSubscriptionKeysFailWithoutARequest) {
  CaptureServer server(io_);
  http::Transport transport(io_, {});
  WebPushProvider provider("push-main", Config(server.port()), vapid_, transport, 4);

  const std::string good_key = B64(subscriber_.public_raw);
  const std::string good_auth = B64(subscriber_.auth);
  std::string off_curve = subscriber_.public_raw;
  off_curve[64] = static_cast<char>(off_curve[64] ^ 1);
  const std::string off_curve_b64 = B64(off_curve);
  const std::string short_key = B64(subscriber_.public_raw.substr(0, 64));
  const std::string short_auth = B64(subscriber_.auth.substr(0, 15));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not base64url!", good_auth}, {good_key, "+/+/"},     {short_key, good_auth},
      {off_curve_b64, good_auth},    {good_key, short_auth},
  };
  for (const auto& [key, auth] : cases) {
    OutboundMessage m = Message("hi");
    m.webpush.p256dh = key;
    m.webpush.auth = auth;
    std::optional<SendResult> result;
    provider.Send(m, [&](SendResult r) { result = std::move(r); });
    ASSERT_TRUE(result.has_value()) << "must complete before Send returns: " << key;
    EXPECT_EQ(result->status, SendStatus::permanent) << key << " " << auth;
    EXPECT_EQ(result->reason, "bad_subscription_keys") << key << " " << auth;
  }
  io_.restart();
  io_.poll();
  EXPECT_EQ(transport.stats().started, 0u);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(provider.in_flight(), 0u);
}

TEST_F(WebPushProviderTest, OversizePayloadFailsWithoutARequest) {
  CaptureServer server(io_);
  http::Transport transport(io_, {});
  WebPushProvider provider("push-main", Config(server.port()), vapid_, transport, 4);
  const std::string payload(webpush::kMaxPlaintextBytes + 1, 'x');
  std::optional<SendResult> result;
  provider.Send(Message(payload), [&](SendResult r) { result = std::move(r); });
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, SendStatus::permanent);
  EXPECT_EQ(result->reason, "payload_too_large");
  EXPECT_EQ(transport.stats().started, 0u);
}

TEST_F(WebPushProviderTest, OverrideKeepsPathAndQueryOfTheEndpoint) {
  CaptureServer server(io_);
  http::Transport transport(io_, {});
  WebPushProvider provider("push-main", Config(server.port()), vapid_, transport, 4);
  std::vector<SendResult> results;
  OutboundMessage with_port = Message("a");
  with_port.webpush.endpoint = "https://Push.Example.net:8443/wpush/v2/x?y=1";
  provider.Send(with_port, [&](SendResult r) { results.push_back(std::move(r)); });
  OutboundMessage with_userinfo = Message("b");
  with_userinfo.webpush.endpoint = "https://user:pw@push.example.net/push/def";
  provider.Send(with_userinfo, [&](SendResult r) { results.push_back(std::move(r)); });
  ASSERT_TRUE(RunUntil([&] { return results.size() == 2; }));
  for (const auto& r : results) EXPECT_EQ(r.status, SendStatus::accepted) << r.reason;
  ASSERT_EQ(server.requests().size(), 2u);
  std::vector<std::string> targets;
  for (const auto& req : server.requests()) targets.emplace_back(req.target());
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<std::string>{"/push/def", "/wpush/v2/x?y=1"}));
}

// ------------------------------------------------------ sendgrid, viber, http

using SendGridSendTest = AsioTest;
using ViberSendTest = AsioTest;
using GenericHttpSendTest = AsioTest;

TEST_F(SendGridSendTest, PostsMailSendWithTheApiKey) {
  CaptureServer server(io_, {.status = bhttp::status::accepted,
                             .headers = {{"X-Message-Id", "14c5d75ce93.dfd.64b469"}},
                             .location = false});
  http::Transport transport(io_, {});
  auto cfg = std::make_shared<SendGridConfig>();
  cfg->base_url = server.origin();
  cfg->api_key = "SG.secret";
  cfg->from = "Shop <noreply@shop.example>";
  SendGridProvider provider("email-main", cfg, transport, 4);
  OutboundMessage m;
  m.request_id = "req-42";
  m.channel = Channel::email;
  m.email = {.to = "ana@example.com", .subject = "Hi", .text = "hello"};

  const auto result = SendAndWait(provider, m);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  EXPECT_EQ(result->provider_message_id, "14c5d75ce93.dfd.64b469");
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method(), bhttp::verb::post);
  EXPECT_EQ(req.target(), "/v3/mail/send");
  EXPECT_EQ(req[bhttp::field::authorization], "Bearer SG.secret");
  EXPECT_EQ(req[bhttp::field::content_type], "application/json");
  Json body(req.body());
  EXPECT_EQ(body.Str("/personalizations/0/to/0/email"), "ana@example.com");
  EXPECT_EQ(body.Str("/personalizations/0/custom_args/omnigate_id"), "req-42");
  EXPECT_EQ(body.Str("/from/email"), "noreply@shop.example");
}

TEST_F(ViberSendTest, PostsSendMessageWithTheToken) {
  CaptureServer server(
      io_, {.status = bhttp::status::ok,
            .headers = {{"Content-Type", "application/json"}},
            .body = R"({"status":0,"status_message":"ok","message_token":5741311803571721087})",
            .location = false});
  http::Transport transport(io_, {});
  auto cfg = std::make_shared<ViberConfig>();
  cfg->base_url = server.origin();
  cfg->auth_token = "445da6az1s345z78";
  cfg->sender_name = "Shop";
  ViberProvider provider("viber-main", cfg, transport, 4);
  EXPECT_EQ(provider.channel(), Channel::viber);
  OutboundMessage m;
  m.request_id = "req-43";
  m.channel = Channel::viber;
  m.viber = {.to = "01234567890A=", .text = "hello"};

  const auto result = SendAndWait(provider, m);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  EXPECT_EQ(result->provider_message_id, "5741311803571721087");
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method(), bhttp::verb::post);
  EXPECT_EQ(req.target(), "/pa/send_message");
  EXPECT_EQ(req["X-Viber-Auth-Token"], "445da6az1s345z78");
  EXPECT_EQ(req[bhttp::field::content_type], "application/json");
  Json body(req.body());
  EXPECT_EQ(body.Str("/receiver"), "01234567890A=");
  EXPECT_EQ(body.Str("/tracking_data"), "req-43");
}

TEST_F(GenericHttpSendTest, RendersTheConfiguredRequest) {
  CaptureServer server(io_, {.status = bhttp::status::ok,
                             .body = R"({"status":"ok","message_id":"agg-9"})",
                             .location = false});
  http::Transport transport(io_, {});
  GenericHttpConfig cfg;
  cfg.channel = Channel::sms;
  cfg.url = server.origin() + "/v1/sms?ref={{id|url}}";
  cfg.headers = {{"Authorization", "Bearer agg-key"},
                 {"Content-Type", "application/json"},
                 {"X-Text", "{{text}}"}};
  cfg.body = R"({"to":{{to|json}},"text":{{text|json}}})";
  cfg.success_json_pointer = "/status";
  cfg.success_equals = "ok";
  cfg.message_id_json_pointer = "/message_id";
  auto compiled = CompiledGenericHttp::Compile(cfg);
  ASSERT_TRUE(compiled.has_value());
  GenericHttpProvider provider("sms-agg", *compiled, transport, 4);
  EXPECT_EQ(provider.channel(), Channel::sms);
  OutboundMessage m;
  m.request_id = "r 1";
  m.channel = Channel::sms;
  m.sms = {.to = "+40700000001", .text = "two\r\nX-Injected: yes"};

  const auto result = SendAndWait(provider, m);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  EXPECT_EQ(result->provider_message_id, "agg-9");
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& req = server.requests()[0];
  EXPECT_EQ(req.method(), bhttp::verb::post);
  EXPECT_EQ(req.target(), "/v1/sms?ref=r%201");
  EXPECT_EQ(req[bhttp::field::authorization], "Bearer agg-key");
  EXPECT_EQ(req["X-Text"], "two  X-Injected: yes");
  EXPECT_EQ(req.count("X-Injected"), 0u);
  Json body(req.body());
  EXPECT_EQ(body.Str("/to"), "+40700000001");
  EXPECT_EQ(body.Str("/text"), "two\r\nX-Injected: yes");
}

// Request fields are percent-encoded where the URL template puts them, on
// either engine: an id cannot walk up the provider's path or start a query
// and fragment of its own, and a NUL in the text does not cut the URL.
TEST_F(GenericHttpSendTest, RequestFieldsInTheUrlCannotRewriteIt) {
  CaptureServer server(io_, {.status = bhttp::status::ok, .body = "{}", .location = false});
  for (const http::HttpEngine engine : {http::HttpEngine::curl, http::HttpEngine::native}) {
    http::Transport transport(io_, {.engine = engine});
    GenericHttpConfig cfg;
    cfg.channel = Channel::sms;
    cfg.url = server.origin() + "/v1/messages/{{id}}/send?text={{text}}";
    auto compiled = CompiledGenericHttp::Compile(cfg);
    ASSERT_TRUE(compiled.has_value());
    GenericHttpProvider provider("sms-agg", *compiled, transport, 4);
    OutboundMessage m;
    m.request_id = "../../admin/purge?all=1#";
    m.channel = Channel::sms;
    using namespace std::string_view_literals;
    m.sms = {.to = "+40700000001", .text = "before\0after"sv};
    const auto result = SendAndWait(provider, m);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->status, SendStatus::accepted) << result->reason;
  }
  ASSERT_EQ(server.requests().size(), 2u);
  for (const auto& req : server.requests()) {
    EXPECT_EQ(req.target(),
              "/v1/messages/..%2F..%2Fadmin%2Fpurge%3Fall%3D1%23/send?text=before%00after");
  }
}

}  // namespace
}  // namespace omnigate::providers
