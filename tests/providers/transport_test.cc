#include "providers/http/transport.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <optional>

#include "bench/mock_provider.h"
#include "tests/support/io_loop.h"

namespace omnigate::http {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class TransportTest : public ::testing::Test {
 protected:
  // Runs the io_context until `done` or the deadline; returns `done()`.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
    return omnigate::testing::RunIoUntil(io_, done, deadline);
  }

  std::unique_ptr<bench::MockProvider> Mock(bench::MockProvider::Options o = {}) {
    auto m = std::make_unique<bench::MockProvider>(o);
    EXPECT_GT(m->Start(), 0) << m->last_error();
    return m;
  }

  static Request TwilioPost(const bench::MockProvider& m, const std::string& auth = "ACmock:mock-token") {
    Request r;
    r.url = "http://127.0.0.1:" + std::to_string(m.port()) +
            "/2010-04-01/Accounts/ACmock/Messages.json";
    r.headers = {"Content-Type: application/x-www-form-urlencoded"};
    r.body = "To=%2B40700000001&Body=hello&From=Shop";
    r.basic_auth = auth;
    return r;
  }

  asio::io_context io_;
};

// Connections beyond connections_per_pool go to further curl pools, and
// requests are spread over them: four requests outstanding on a transport of
// four one-connection pools use four connections at once. (One pool, or all
// requests sent to the same pool, would use one connection in turn.)
TEST_F(TransportTest, ConnectionsAreSplitOverPoolsAndRequestsSpreadAcrossThem) {
  bench::MockProvider::Options o;
  o.latency_ms = 200;
  auto mock = Mock(o);
  TransportOptions options;
  options.max_connections_per_host = 4;
  options.max_total_connections = 4;
  options.connections_per_pool = 1;
  Transport t(io_, options);
  int ok = 0;
  for (int i = 0; i < 4; ++i) {
    t.Send(TwilioPost(*mock), [&](Response r) { ok += r.status == 201 ? 1 : 0; });
  }
  EXPECT_EQ(t.in_flight(), 4u);
  ASSERT_TRUE(RunUntil([&] { return t.in_flight() == 0; }));
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(mock->connections(), 4u);
  EXPECT_EQ(t.stats().started, 4u);
  EXPECT_EQ(t.stats().completed, 4u);
}

TEST_F(TransportTest, PostGetsStatusBodyAndHeaders) {
  auto mock = Mock();
  Transport t(io_, {});
  std::optional<Response> got;
  t.Send(TwilioPost(*mock), [&](Response r) { got = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->error, TransportError::none) << got->error_message;
  EXPECT_EQ(got->status, 201);
  EXPECT_NE(got->body.find("\"sid\":\"SM"), std::string::npos) << got->body;
  ASSERT_NE(got->header("Content-Type"), nullptr);
  EXPECT_EQ(*got->header("content-type"), "application/json");
  EXPECT_GT(got->elapsed.count(), 0);
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.stats().completed, 1u);
}

TEST_F(TransportTest, ManyConcurrentRequestsReuseABoundedSetOfConnections) {
  auto mock = Mock({.latency_ms = 2});
  Transport t(io_, {.max_connections_per_host = 8, .max_total_connections = 8});
  int ok = 0;
  int done = 0;
  constexpr int kRequests = 1000;
  for (int i = 0; i < kRequests; ++i) {
    t.Send(TwilioPost(*mock), [&](Response r) {
      ++done;
      if (r.status == 201) ++ok;
    });
  }
  ASSERT_TRUE(RunUntil([&] { return done == kRequests; }, 60s));
  EXPECT_EQ(ok, kRequests);
  EXPECT_LE(mock->connections(), 8u) << "connections must be pooled and reused";
}

TEST_F(TransportTest, PerRequestTimeoutFiresLongBeforeTheSlowAnswer) {
  auto mock = Mock({.latency_ms = 3000});
  Transport t(io_, {});
  Request r = TwilioPost(*mock);
  r.timeout = 100ms;
  std::optional<Response> got;
  const auto start = std::chrono::steady_clock::now();
  t.Send(std::move(r), [&](Response resp) { got = std::move(resp); });
  ASSERT_TRUE(RunUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->error, TransportError::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(TransportTest, RefusedConnectionIsAConnectError) {
  // A port that was just free: bind, note it, close.
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor a(io_, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  Transport t(io_, {});
  Request r;
  r.method = Method::get;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  std::optional<Response> got;
  t.Send(std::move(r), [&](Response resp) { got = std::move(resp); });
  ASSERT_TRUE(RunUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->error, TransportError::connect) << got->error_message;
  EXPECT_EQ(t.stats().transport_errors, 1u);
}

TEST_F(TransportTest, ThrottleAndServerErrorsArriveAsStatusesWithHeaders) {
  auto throttling = Mock({.throttle_rate = 1.0});
  auto failing = Mock({.error_rate = 1.0});
  Transport t(io_, {});
  std::optional<Response> r429;
  std::optional<Response> r500;
  t.Send(TwilioPost(*throttling), [&](Response r) { r429 = std::move(r); });
  t.Send(TwilioPost(*failing), [&](Response r) { r500 = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return r429 && r500; }));
  EXPECT_EQ(r429->error, TransportError::none);
  EXPECT_EQ(r429->status, 429);
  ASSERT_NE(r429->header("retry-after"), nullptr);
  EXPECT_EQ(*r429->header("Retry-After"), "1");
  EXPECT_EQ(r500->error, TransportError::none);
  EXPECT_EQ(r500->status, 500);
}

TEST_F(TransportTest, BasicAuthReachesTheServer) {
  auto mock = Mock();
  Transport t(io_, {});
  std::optional<Response> bad;
  t.Send(TwilioPost(*mock, "ACmock:wrong"), [&](Response r) { bad = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return bad.has_value(); }));
  EXPECT_EQ(bad->status, 401);
}

TEST_F(TransportTest, OversizeResponseIsCutOff) {
  auto mock = Mock();
  Transport t(io_, {.max_response_bytes = 16});
  std::optional<Response> got;
  t.Send(TwilioPost(*mock), [&](Response r) { got = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->error, TransportError::too_large);
  EXPECT_LE(got->body.size(), 16u);
}

TEST_F(TransportTest, CallbackNeverRunsInsideSend) {
  Transport t(io_, {});
  bool inside_send = false;
  bool called = false;
  Request r;
  r.url = "not a url at all";
  inside_send = true;
  t.Send(std::move(r), [&](Response resp) {
    EXPECT_FALSE(inside_send);
    EXPECT_NE(resp.error, TransportError::none);
    called = true;
  });
  inside_send = false;
  EXPECT_FALSE(called);
  ASSERT_TRUE(RunUntil([&] { return called; }));
}

TEST_F(TransportTest, DestroyingWithRequestsInFlightCallsNoCallback) {
  auto mock = Mock({.latency_ms = 300});
  int called = 0;
  {
    Transport t(io_, {});
    for (int i = 0; i < 10; ++i) t.Send(TwilioPost(*mock), [&](Response) { ++called; });
    RunUntil([&] { return mock->requests() >= 10; }, 5s);
    EXPECT_EQ(t.in_flight(), 10u);
  }
  // Give any stray handler the chance to run: none may call back.
  RunUntil([] { return false; }, 500ms);
  EXPECT_EQ(called, 0);
}

TEST_F(TransportTest, TlsToAPlainTextPeerIsATlsError) {
  EXPECT_TRUE(TransportOptions{}.tls_verify) << "TLS verification is on by default";
  // A peer that answers a TLS ClientHello with plain HTTP and hangs up.
  asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket peer(io_);
  acceptor.async_accept(peer, [&](const boost::system::error_code& ec) {
    if (ec) return;
    static const std::string kReply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    asio::async_write(peer, asio::buffer(kReply), [&](const boost::system::error_code&, std::size_t) {
      boost::system::error_code ignored;
      peer.close(ignored);
    });
  });
  Transport t(io_, {});
  Request r;
  r.method = Method::get;
  r.url = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
  r.timeout = 5s;
  std::optional<Response> got;
  t.Send(std::move(r), [&](Response resp) { got = std::move(resp); });
  ASSERT_TRUE(RunUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->error, TransportError::tls) << got->error_message;
}

}  // namespace
}  // namespace omnigate::http
