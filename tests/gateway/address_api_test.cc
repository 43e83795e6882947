// The suppressions and consents API through a real listener on loopback, on
// both state backends, with a manual clock: expiry is crossed by moving the
// clock. Over redis the API has its connection of its own (as in the
// service), and the policy reads through the backend's, so the round trips
// also prove that both sides agree on keys and values.
#include "gateway/address_api.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "gateway/policy/policy.h"
#include "tests/gateway/state/store_backends.h"

namespace omnigate::gateway {
namespace {

using namespace std::chrono_literals;
using namespace state::testing_backends;
using policy::Decision;
using policy::Outcome;
using policy::RequestPolicy;
using state::BlockingStore;
using state::Op;
using state::StoreStatus;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace dom = simdjson::dom;

struct Reply {
  int status = 0;
  std::string body;
};

// One request on a connection of its own: a small client, so that the test
// controls the exact bytes of the target (a raw '+', %2B) and the headers.
// Bodies over 1 MiB wait for "100 Continue" first, as curl does, so that a
// refusal before the body is read arrives as an answer, not a reset.
Reply Send(std::uint16_t port, bhttp::verb method, const std::string& target,
           const std::string& body = "", const std::string& content_type = "application/json",
           const std::string& token = "") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  beast::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) {
    ADD_FAILURE() << "connect: " << ec.message();
    return {};
  }
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  if (!body.empty()) req.set(bhttp::field::content_type, content_type);
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  const bool expect_continue = body.size() > (1u << 20);
  if (expect_continue) req.set(bhttp::field::expect, "100-continue");
  req.body() = body;
  req.prepare_payload();
  bhttp::request_serializer<bhttp::string_body> serializer{req};
  beast::flat_buffer buffer;
  auto read = [&]() -> std::optional<Reply> {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    bhttp::read(socket, buffer, parser, ec);
    if (ec) {
      ADD_FAILURE() << "read: " << ec.message();
      return std::nullopt;
    }
    return Reply{static_cast<int>(parser.get().result_int()), parser.get().body()};
  };
  if (expect_continue) {
    bhttp::write_header(socket, serializer, ec);
    if (ec) {
      ADD_FAILURE() << "write: " << ec.message();
      return {};
    }
    const auto interim = read();
    if (!interim) return {};
    if (interim->status != 100) return *interim;
  }
  bhttp::write(socket, serializer, ec);
  if (ec) {
    ADD_FAILURE() << "write: " << ec.message();
    return {};
  }
  return read().value_or(Reply{});
}

// A request to two numbers' worth of channels, as the policy tests build them.
SendRequest ToEveryone(std::string id) {
  SendRequest r;
  r.id = std::move(id);
  r.tenant = "shop";
  r.lane = Lane::bulk;
  r.to.phone = "+40700000001";
  r.to.viber = "+40700000001";
  r.to.email = "Ana@Example.COM";
  r.channels = {Channel::viber, Channel::sms, Channel::email};
  r.sms = SmsContent{"hello", "Shop"};
  r.viber = ViberContent{"hello", "", std::nullopt};
  r.email = EmailContent{"Shop <n@shop.example>", "Hi", "", "hello", ""};
  return r;
}

template <typename Backend>
class AddressApiTest : public ::testing::Test {
 protected:
  AddressApiTest() : backend_(clock_), store_(MakeStore()) {
    if constexpr (std::is_same_v<Backend, RedisBackend>) {
      // Its connection comes up in the background.
      EXPECT_TRUE(omnigate::testing::WaitFor(
          [&] {
            std::vector<Op> probe{{.type = Op::Type::get, .key = "probe"}};
            return store_->Run(probe) == StoreStatus::ok;
          },
          10s));
    }
    RegisterAddressRoutes(server_, *store_, clock_);
    auto port = server_.Start();
    EXPECT_TRUE(port) << (port ? "" : port.error());
    port_ = port ? *port : 0;
  }

  std::unique_ptr<BlockingStore> MakeStore() {
    if constexpr (std::is_same_v<Backend, RedisBackend>) {
      return std::make_unique<BlockingStore>(
          state::RedisStoreOptions{.port = backend_.port(), .reconnect_backoff = 100ms}, clock_);
    } else {
      return std::make_unique<BlockingStore>(backend_.store());
    }
  }

  Reply Post(const std::string& path, const std::string& body,
             const std::string& type = "application/json") {
    return Send(port_, bhttp::verb::post, path, body, type);
  }
  Reply Get(const std::string& target) { return Send(port_, bhttp::verb::get, target); }
  Reply Delete(const std::string& target, const std::string& body = "") {
    return Send(port_, bhttp::verb::delete_, target, body);
  }

  // The response body, parsed; valid until the next call.
  dom::element Json(const Reply& r) {
    dom::element e;
    EXPECT_EQ(parser_.parse(r.body).get(e), simdjson::SUCCESS) << r.body;
    return e;
  }
  // "channel:reason:source" of each record a GET returns, in its order.
  std::vector<std::string> Records(const std::string& query,
                                   const std::string& path = "/v1/suppressions") {
    const Reply r = Get(path + "?" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    if (r.status != 200) return out;
    for (dom::element rec : Json(r)["records"].get_array()) {
      out.push_back(std::string(rec["channel"].get_string().value()) + ":" +
                    std::string(rec["reason"].get_string().value()) + ":" +
                    std::string(rec["source"].get_string().value()));
    }
    return out;
  }

  // The checks of `req` as a worker runs them, reading through the backend's
  // own store.
  Decision Check(const SendRequest& req, const TenantPolicy& tp = {}) {
    RequestPolicy p;
    p.Prepare(req, tp, "r/0/" + req.id, clock_.Now());
    std::vector<Op> ops(p.ops().begin(), p.ops().end());
    EXPECT_EQ(RunOps(backend_.store(), ops), StoreStatus::ok);
    std::copy(ops.begin(), ops.end(), p.ops().begin());
    return p.Decide(clock_.Now());
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000))};
  Backend backend_;
  std::unique_ptr<BlockingStore> store_;
  HttpServer server_{HttpServerOptions{.listen = "127.0.0.1:0"}};
  std::uint16_t port_ = 0;
  dom::parser parser_;
};

using Backends = ::testing::Types<EmbeddedBackend, RedisBackend>;
TYPED_TEST_SUITE(AddressApiTest, Backends, BackendNames);

TYPED_TEST(AddressApiTest, PostThenGetRoundTripWithTheAddressNormalised) {
  const Reply posted =
      this->Post("/v1/suppressions", R"({"tenant":"shop","address":"0040 700-000-001",)"
                                     R"("reason":"stop-keyword","source":"sms-keyword"})");
  EXPECT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(posted.body, R"({"applied":1,"errors":[]})");

  const Reply got = this->Get("/v1/suppressions?tenant=shop&address=%2B40700000001");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, R"({"tenant":"shop","address":"+40700000001","records":[{"channel":"all",)"
                      R"("reason":"stop-keyword","source":"sms-keyword",)"
                      R"("created_at":"2024-10-04T00:00:00.000Z","expires_at":null}]})");
  // Another tenant's book is its own.
  EXPECT_TRUE(this->Records("tenant=crm&address=%2B40700000001").empty());
}

TYPED_TEST(AddressApiTest, AQueryPlusIsAPlusAndFormSpacesInAPhoneAreSpaces) {
  ASSERT_EQ(
      this->Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000001","reason":"r"})")
          .status,
      200);
  ASSERT_EQ(this->Post("/v1/suppressions",
                       R"({"tenant":"shop","address":"ana+news@example.com","reason":"r"})")
                .status,
            200);
  for (const std::string address :
       {"%2B40700000001", "+40700000001", "0040700000001", "%2B40+700+000+001",
        "%2B40%20700%20000%20001", "+40+700+000+001"}) {
    EXPECT_EQ(this->Records("tenant=shop&address=" + address), std::vector<std::string>{"all:r:"})
        << address;
  }
  for (const std::string address : {"ana+news@example.com", "ana%2Bnews%40EXAMPLE.com"}) {
    EXPECT_EQ(this->Records("tenant=shop&address=" + address), std::vector<std::string>{"all:r:"})
        << address;
  }
}

TYPED_TEST(AddressApiTest, ASuppressionFromTheApiIsWhatThePolicyChecksSee) {
  EXPECT_EQ(this->Check(ToEveryone("p-1")).verdict, Decision::Verdict::send);
  // One channel: only sms is skipped.
  ASSERT_EQ(this->Post("/v1/suppressions", R"({"tenant":"shop","address":"0040 (700) 000-001",)"
                                           R"("channel":"sms","reason":"STOP"})")
                .status,
            200);
  Decision d = this->Check(ToEveryone("p-2"));
  EXPECT_EQ(d.verdict, Decision::Verdict::send);
  EXPECT_TRUE(d.skipped[static_cast<std::size_t>(Channel::viber)].empty());
  EXPECT_EQ(d.skipped_outcome[static_cast<std::size_t>(Channel::sms)],
            Outcome::skipped_suppression);
  EXPECT_NE(d.skipped[static_cast<std::size_t>(Channel::sms)].find("STOP"), std::string::npos)
      << d.skipped[static_cast<std::size_t>(Channel::sms)];
  // The phone on every channel covers viber too; the email's domain in
  // another case is the same address.
  ASSERT_EQ(
      this->Post("/v1/suppressions",
                 "{\"tenant\":\"shop\",\"address\":\"+40700000001\"}\n"
                 "{\"tenant\":\"shop\",\"address\":\"Ana@example.com\",\"channel\":\"email\"}\n")
          .status,
      200);
  d = this->Check(ToEveryone("p-3"));
  EXPECT_EQ(d.verdict, Decision::Verdict::suppressed);
  EXPECT_EQ(d.outcome, Outcome::suppressed_suppression);
  EXPECT_NE(d.skipped[static_cast<std::size_t>(Channel::viber)].find("every channel"),
            std::string::npos);
  // Deleting the phone's records (no channel: all of them) lifts sms and viber.
  const Reply deleted = this->Delete("/v1/suppressions?tenant=shop&address=%2B40700000001");
  EXPECT_EQ(deleted.body, R"({"deleted":2})");
  d = this->Check(ToEveryone("p-4"));
  EXPECT_EQ(d.verdict, Decision::Verdict::send);
  EXPECT_FALSE(d.skipped[static_cast<std::size_t>(Channel::email)].empty());
  EXPECT_TRUE(d.skipped[static_cast<std::size_t>(Channel::sms)].empty());
}

TYPED_TEST(AddressApiTest, AConsentFromTheApiLetsABulkSendThrough) {
  TenantPolicy tp;
  tp.bulk_requires_opt_in = true;
  SendRequest req = ToEveryone("c-1");
  req.channels = {Channel::email};
  EXPECT_EQ(this->Check(req, tp).outcome, Outcome::suppressed_no_consent);
  ASSERT_EQ(this->Post("/v1/consents", R"({"tenant":"shop","address":"Ana@EXAMPLE.com",)"
                                       R"("source":"signup-form"})")
                .status,
            200);
  EXPECT_EQ(this->Check(req, tp).verdict, Decision::Verdict::send);
  EXPECT_EQ(this->Records("tenant=shop&address=Ana%40example.com", "/v1/consents"),
            std::vector<std::string>{"all::signup-form"});
  // A suppression is another book: the consent is not one.
  EXPECT_TRUE(this->Records("tenant=shop&address=Ana%40example.com").empty());
}

TYPED_TEST(AddressApiTest, NdjsonBulkStoresTheGoodLinesAndNamesTheBadOne) {
  const std::string body =
      "{\"tenant\":\"shop\",\"address\":\"+40700000001\",\"reason\":\"bounce\"}\n"
      "{\"tenant\":\"shop\",\"address\":\"+40 7x0\",\"reason\":\"bounce\"}\r\n"
      "\n"
      "{\"tenant\":\"shop\",\"address\":\"bob@example.com\",\"channel\":\"email\"}\n";
  const Reply r = this->Post("/v1/suppressions", body, "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto json = this->Json(r);
  EXPECT_EQ(json["applied"].get_int64().value(), 2);
  ASSERT_EQ(json["errors"].get_array().size(), 1u) << r.body;
  const auto error = json["errors"].at(0);
  EXPECT_EQ(error["line"].get_int64().value(), 2);
  EXPECT_EQ(error["field"].get_string().value(), "address");
  EXPECT_NE(std::string(error["error"].get_string().value()).find("phone number"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001"),
            std::vector<std::string>{"all:bounce:"});
  EXPECT_EQ(this->Records("tenant=shop&address=bob%40example.com"),
            std::vector<std::string>{"email::"});
}

TYPED_TEST(AddressApiTest, ALargeImportIsWrittenInBatches) {
  // Three batches and a bit, sent as plain JSON: several lines are NDJSON.
  std::string body;
  const int n = static_cast<int>(3 * kAddressApiBatchOps + 7);
  for (int i = 0; i < n; ++i) {
    body += fmt::format(R"({{"tenant":"shop","address":"+4071{:07d}","source":"import"}})", i);
    body += '\n';
  }
  const Reply r = this->Post("/v1/suppressions", body);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.body, fmt::format(R"({{"applied":{},"errors":[]}})", n));
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40710000000"),
            std::vector<std::string>{"all::import"});
  EXPECT_EQ(this->Records(fmt::format("tenant=shop&address=%2B4071{:07d}", n - 1)),
            std::vector<std::string>{"all::import"});
}

TYPED_TEST(AddressApiTest, OneChannelAndAllChannelsAreSeparateRecords) {
  ASSERT_EQ(this->Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000001",)"
                                           R"("channel":"sms","reason":"a"})")
                .status,
            200);
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001"),
            std::vector<std::string>{"sms:a:"});
  EXPECT_TRUE(this->Records("tenant=shop&address=%2B40700000001&channel=viber").empty());
  ASSERT_EQ(this->Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000001",)"
                                           R"("channel":"all","reason":"b"})")
                .status,
            200);
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001&channel=viber"),
            std::vector<std::string>{"all:b:"});
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001&channel=all"),
            std::vector<std::string>{"all:b:"});
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001"),
            (std::vector<std::string>{"sms:a:", "all:b:"}));
  // A second POST replaces the record.
  ASSERT_EQ(this->Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000001",)"
                                           R"("channel":"sms","reason":"c"})")
                .status,
            200);
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001&channel=sms"),
            (std::vector<std::string>{"sms:c:", "all:b:"}));
}

TYPED_TEST(AddressApiTest, AnExpiryEndsTheRecord) {
  ASSERT_EQ(this->Post("/v1/suppressions",
                       "{\"tenant\":\"shop\",\"address\":\"+40700000001\",\"ttl\":\"30d\"}\n"
                       "{\"tenant\":\"shop\",\"address\":\"a@b.io\",\"expires_at\":"
                       "\"2024-10-05T02:00:00+02:00\"}\n")
                .status,
            200);
  Reply r = this->Get("/v1/suppressions?tenant=shop&address=%2B40700000001");
  EXPECT_NE(r.body.find(R"("expires_at":"2024-11-03T00:00:00.000Z")"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?tenant=shop&address=a%40b.io");
  EXPECT_NE(r.body.find(R"("expires_at":"2024-10-05T00:00:00.000Z")"), std::string::npos) << r.body;

  this->clock_.Advance(24h);
  EXPECT_TRUE(this->Records("tenant=shop&address=a%40b.io").empty());
  EXPECT_EQ(this->Records("tenant=shop&address=%2B40700000001").size(), 1u);
  this->clock_.Advance(29 * 24h);
  EXPECT_TRUE(this->Records("tenant=shop&address=%2B40700000001").empty());
  EXPECT_EQ(this->Check(ToEveryone("e-1")).verdict, Decision::Verdict::send);

  // An expiry that has passed is refused for its line.
  r = this->Post("/v1/suppressions",
                 R"({"tenant":"shop","address":"a@b.io","expires_at":"2024-10-01T00:00:00Z"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("field":"expires_at","error":"is in the past)"), std::string::npos)
      << r.body;
  r = this->Post(
      "/v1/suppressions",
      R"({"tenant":"shop","address":"a@b.io","ttl":"30d","expires_at":"2030-01-01T00:00:00Z"})");
  EXPECT_EQ(r.status, 400) << r.body;
  r = this->Post("/v1/suppressions", R"({"tenant":"shop","address":"a@b.io","ttl":"1 month"})");
  EXPECT_NE(r.body.find(R"("field":"ttl")"), std::string::npos) << r.body;
}

TYPED_TEST(AddressApiTest, DeleteSaysHowManyRecordsExisted) {
  ASSERT_EQ(this->Post("/v1/suppressions",
                       "{\"tenant\":\"shop\",\"address\":\"+40700000001\",\"channel\":\"sms\"}\n"
                       "{\"tenant\":\"shop\",\"address\":\"+40700000001\",\"channel\":\"viber\"}\n"
                       "{\"tenant\":\"shop\",\"address\":\"+40700000001\"}\n"
                       "{\"tenant\":\"shop\",\"address\":\"a@b.io\"}\n")
                .body,
            R"({"applied":4,"errors":[]})");
  // One channel's record, by query.
  EXPECT_EQ(this->Delete("/v1/suppressions?tenant=shop&address=%2B40700000001&channel=sms").body,
            R"({"deleted":1})");
  EXPECT_EQ(this->Delete("/v1/suppressions?tenant=shop&address=%2B40700000001&channel=sms").body,
            R"({"deleted":0})");
  // By body, one line per address, with a bad line among them; no channel
  // means every record of the address.
  const Reply r = this->Delete("/v1/suppressions",
                               "{\"tenant\":\"shop\",\"address\":\"0040700000001\"}\n"
                               "{\"tenant\":\"shop\",\"address\":\"a@b.io\",\"chanel\":\"sms\"}\n"
                               "{\"tenant\":\"shop\",\"address\":\"a@b.io\",\"reason\":\"x\"}\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(this->Json(r)["deleted"].get_int64().value(), 3) << r.body;
  EXPECT_NE(r.body.find(R"({"line":2,"field":"chanel","error":"unknown field)"), std::string::npos)
      << r.body;
  EXPECT_TRUE(this->Records("tenant=shop&address=%2B40700000001").empty());
  EXPECT_TRUE(this->Records("tenant=shop&address=a%40b.io").empty());

  EXPECT_EQ(this->Delete("/v1/suppressions").status, 400);
  EXPECT_EQ(this->Delete("/v1/suppressions?tenant=shop").status, 400);
  EXPECT_EQ(this->Delete("/v1/suppressions?tenant=shop&address=a%40b.io",
                         R"({"tenant":"shop","address":"a@b.io"})")
                .status,
            400);
}

TYPED_TEST(AddressApiTest, AConsentNeedsItsSource) {
  Reply r = this->Post("/v1/consents", R"({"tenant":"shop","address":"+40700000001"})");
  EXPECT_EQ(r.status, 400);
  const auto json = this->Json(r);
  EXPECT_EQ(json["applied"].get_int64().value(), 0);
  EXPECT_EQ(json["errors"].at(0)["field"].get_string().value(), "source") << r.body;
  r = this->Post("/v1/consents", R"({"tenant":"shop","address":"+40700000001","source":" "})");
  EXPECT_EQ(r.status, 400) << r.body;
  r = this->Post("/v1/consents",
                 R"({"tenant":"shop","address":"+40700000001","source":"double-opt-in"})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TYPED_TEST(AddressApiTest, BadRequestsSayWhichFieldAndWhy) {
  // Each a POST body and the field its error names (null: the line as a whole).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"tenant":"shop","address":)", "null"},  // not JSON
      {R"(["shop","+40700000001"])", "null"},
      {R"({"address":"+40700000001"})", "\"tenant\""},
      {R"({"tenant":"shop|x","address":"+40700000001"})", "\"tenant\""},
      {R"({"tenant":"shop","address":"+40700000001","channel":"fax"})", "\"channel\""},
      {R"({"tenant":"shop","address":"+40700000001","channel":"email"})", "\"address\""},
      {R"({"tenant":"shop"})", "\"address\""},
      {R"({"tenant":"shop","address":42})", "\"address\""},
      {R"({"tenant":"shop","address":"http://push.example/x"})", "\"address\""},
      {R"({"tenant":"shop","address":"+40700000001","reason":")" + std::string(257, 'x') + "\"}",
       "\"reason\""},
      {R"({"tenant":"shop","address":"+40700000001","scope":"all"})", "\"scope\""},
  };
  for (const auto& [body, field] : cases) {
    const Reply r = this->Post("/v1/suppressions", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(R"("errors":[{"line":1,"field":)" + field + ",\"error\":"),
              std::string::npos)
        << body << " -> " << r.body;
  }
  // A pretty-printed object is one document; with a syntax error, one error.
  Reply r = this->Post("/v1/suppressions",
                       "{\n  \"tenant\": \"shop\",\n  \"address\": \"+40700000001\"\n}\n");
  EXPECT_EQ(r.body, R"({"applied":1,"errors":[]})");
  r = this->Post("/v1/suppressions", "{\n  \"tenant\": \"shop\",\n  \"address\": \n}\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(this->Json(r)["errors"].get_array().size(), 1u) << r.body;

  EXPECT_EQ(this->Post("/v1/suppressions", "").status, 400);
  EXPECT_EQ(this->Post("/v1/suppressions", " \n\n").status, 400);

  // GET: the query names the address.
  r = this->Get("/v1/suppressions?tenant=shop");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("field":"address")"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?address=%2B40700000001");
  EXPECT_NE(r.body.find(R"("field":"tenant")"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?tenant=shop&address=12345");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("country code"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?tenant=shop&address=%2B40700000001&channel=fax");
  EXPECT_NE(r.body.find(R"("field":"channel")"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?tenant=shop&adress=%2B40700000001");
  EXPECT_NE(r.body.find(R"("field":"adress")"), std::string::npos) << r.body;
  r = this->Get("/v1/suppressions?tenant=shop&address=%ZZ");
  EXPECT_EQ(r.status, 400) << r.body;
}

TYPED_TEST(AddressApiTest, TooManyLinesAreRefusedWholeAndSaySo) {
  std::string body;
  for (std::size_t i = 0; i <= kAddressApiMaxLines; ++i) body += "{}\n";
  const Reply r = this->Post("/v1/suppressions", body, "application/x-ndjson");
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("split the import"), std::string::npos) << r.body;
  // Over the byte limit: the server's 413, naming the limit.
  const Reply big = this->Post("/v1/suppressions", std::string(kAddressApiMaxBodyBytes + 1, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find(std::to_string(kAddressApiMaxBodyBytes)), std::string::npos) << big.body;
}

class AddressApiRedisTest : public AddressApiTest<RedisBackend> {};

TEST_F(AddressApiRedisTest, AStoreThatIsDownIsA503AndNothingClaimsSuccess) {
  ASSERT_EQ(Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000001"})").status, 200);
  backend_.StopServer();
  Reply r = Post("/v1/suppressions", R"({"tenant":"shop","address":"+40700000002"})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("state store (redis) unavailable"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("applied":0)"), std::string::npos) << r.body;
  r = Get("/v1/suppressions?tenant=shop&address=%2B40700000001");
  EXPECT_EQ(r.status, 503) << r.body;
  r = Delete("/v1/suppressions?tenant=shop&address=%2B40700000001");
  EXPECT_EQ(r.status, 503) << r.body;
  // Back up (empty: this redis-server keeps nothing on disk): it answers again.
  backend_.StartServer();
  EXPECT_TRUE(omnigate::testing::WaitFor(
      [&] { return Get("/v1/suppressions?tenant=shop&address=%2B40700000001").status == 200; }, 20s,
      100ms));
}

TEST(AddressApi, RoutesNeedTheAdminTokenAndOnlyItsHolderMaySendALargeBody) {
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000))};
  EmbeddedBackend backend(clock);
  BlockingStore store(backend.store());
  HttpServer server({.listen = "127.0.0.1:0", .admin_token = "s3cret"});
  RegisterAddressRoutes(server, store, clock);
  const auto port = server.Start();
  ASSERT_TRUE(port);
  const std::string one = R"({"tenant":"shop","address":"+40700000001"})";
  EXPECT_EQ(Send(*port, bhttp::verb::post, "/v1/consents", one).status, 401);
  EXPECT_EQ(
      Send(*port, bhttp::verb::get, "/v1/suppressions?tenant=shop&address=0040700000001").status,
      401);
  // 2 MiB of lines, over the server's usual 1 MiB: refused before the body is
  // sent without the token, taken with it.
  std::string bulk;
  for (int i = 0; bulk.size() < (2u << 20); ++i) {
    bulk +=
        fmt::format(R"({{"tenant":"shop","address":"+4072{:07d}","source":"import-2024-10"}})", i);
    bulk += '\n';
  }
  EXPECT_EQ(Send(*port, bhttp::verb::post, "/v1/suppressions", bulk).status, 401);
  const Reply r =
      Send(*port, bhttp::verb::post, "/v1/suppressions", bulk, "application/x-ndjson", "s3cret");
  EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_NE(r.body.find(R"("errors":[])"), std::string::npos) << r.body.substr(0, 300);
}

}  // namespace
}  // namespace omnigate::gateway
