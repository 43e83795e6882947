#include "providers/http/transport.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <optional>

#include "bench/mock_provider.h"
#include "tests/support/io_loop.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::http {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class TransportTestBase : public ::testing::Test {
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

  // Sends `r` on `t` and runs the loop until its answer (nullopt if none
  // came by the deadline).
  std::optional<Response> SendAndWait(Transport& t, Request r,
                                      std::chrono::milliseconds deadline = 10s) {
    std::optional<Response> got;
    t.Send(std::move(r), [&](Response x) { got = std::move(x); });
    RunUntil([&] { return got.has_value(); }, deadline);
    return got;
  }

  asio::io_context io_;
};

std::string EngineName(const ::testing::TestParamInfo<HttpEngine>& p) {
  return p.param == HttpEngine::curl ? "Curl" : "Native";
}

// Every behaviour below holds for both engines (HttpEngine): the gateway may
// send a provider's requests through either.
class TransportTest : public TransportTestBase,
                      public ::testing::WithParamInterface<HttpEngine> {
 protected:
  TransportOptions Opts(TransportOptions o = {}) const {
    o.engine = GetParam();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Engines, TransportTest,
                         ::testing::Values(HttpEngine::curl, HttpEngine::native),
                         EngineName);

using TransportCurlTest = TransportTestBase;

// Connections beyond connections_per_pool go to further curl pools, and
// requests are spread over them: four requests outstanding on a transport of
// four one-connection pools use four connections at once. (One pool, or all
// requests sent to the same pool, would use one connection in turn.)
TEST_F(TransportCurlTest, ConnectionsAreSplitOverPoolsAndRequestsSpreadAcrossThem) {
  bench::MockProvider::Options o;
  o.latency_ms = 200;
  auto mock = Mock(o);
  TransportOptions options;
  options.max_connections_per_host = 4;
  options.max_total_connections = 4;
  options.connections_per_pool = 1;
  options.engine = HttpEngine::curl;
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

TEST_P(TransportTest, PostGetsStatusBodyAndHeaders) {
  auto mock = Mock();
  Transport t(io_, Opts());
  const std::optional<Response> got = SendAndWait(t, TwilioPost(*mock));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::none) << got->error_message;
  EXPECT_EQ(got->status, 201);
  EXPECT_NE(got->body.find("\"sid\":\"SM"), std::string::npos) << got->body;
  ASSERT_NE(got->header("Content-Type"), nullptr);
  EXPECT_EQ(*got->header("content-type"), "application/json");
  EXPECT_GT(got->elapsed.count(), 0);
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.stats().completed, 1u);
}

TEST_P(TransportTest, ManyConcurrentRequestsReuseABoundedSetOfConnections) {
  auto mock = Mock({.latency_ms = 2});
  Transport t(io_, Opts({.max_connections_per_host = 8, .max_total_connections = 8}));
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

TEST_P(TransportTest, PerRequestTimeoutFiresLongBeforeTheSlowAnswer) {
  auto mock = Mock({.latency_ms = 3000});
  Transport t(io_, Opts());
  Request r = TwilioPost(*mock);
  r.timeout = 100ms;
  const auto start = std::chrono::steady_clock::now();
  const std::optional<Response> got = SendAndWait(t, std::move(r));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_P(TransportTest, RefusedConnectionIsAConnectError) {
  // A port that was just free: bind, note it, close.
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor a(io_, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  Transport t(io_, Opts());
  Request r;
  r.method = Method::get;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  const std::optional<Response> got = SendAndWait(t, std::move(r));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::connect) << got->error_message;
  EXPECT_EQ(t.stats().transport_errors, 1u);
}

// A name that cannot resolve (RFC 6761 reserves .invalid) is a DNS error,
// not a connect error or a timeout.
TEST_P(TransportTest, UnresolvableHostIsADnsError) {
  Transport t(io_, Opts());
  Request r;
  r.method = Method::get;
  r.url = "http://omnigate-test.invalid/";
  r.timeout = 30s;
  const std::optional<Response> got = SendAndWait(t, std::move(r), 40s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::dns) << got->error_message;
  EXPECT_EQ(got->status, 0);
}

TEST_P(TransportTest, ThrottleAndServerErrorsArriveAsStatusesWithHeaders) {
  auto throttling = Mock({.throttle_rate = 1.0});
  auto failing = Mock({.error_rate = 1.0});
  Transport t(io_, Opts());
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

TEST_P(TransportTest, BasicAuthReachesTheServer) {
  auto mock = Mock();
  Transport t(io_, Opts());
  const std::optional<Response> bad = SendAndWait(t, TwilioPost(*mock, "ACmock:wrong"));
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 401);
}

TEST_P(TransportTest, OversizeResponseIsCutOff) {
  auto mock = Mock();
  Transport t(io_, Opts({.max_response_bytes = 16}));
  const std::optional<Response> got = SendAndWait(t, TwilioPost(*mock));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::too_large);
  EXPECT_LE(got->body.size(), 16u);
}

TEST_P(TransportTest, CallbackNeverRunsInsideSend) {
  Transport t(io_, Opts());
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

TEST_P(TransportTest, DestroyingWithRequestsInFlightCallsNoCallback) {
  auto mock = Mock({.latency_ms = 300});
  int called = 0;
  {
    Transport t(io_, Opts());
    for (int i = 0; i < 10; ++i) t.Send(TwilioPost(*mock), [&](Response) { ++called; });
    RunUntil([&] { return mock->requests() >= 10; }, 5s);
    EXPECT_EQ(t.in_flight(), 10u);
  }
  // Give any stray handler the chance to run: none may call back.
  RunUntil([] { return false; }, 500ms);
  EXPECT_EQ(called, 0);
}

TEST_P(TransportTest, TlsToAPlainTextPeerIsATlsError) {
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
  Transport t(io_, Opts());
  Request r;
  r.method = Method::get;
  r.url = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
  r.timeout = 5s;
  const std::optional<Response> got = SendAndWait(t, std::move(r));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error, TransportError::tls) << got->error_message;
}

// --- Against hand-written peers: the bytes on the wire, odd answers ----------

// An HTTP/1.1 server on the test's io_context that answers each complete
// request with whatever the test's responder returns, optionally closing the
// connection after it. Records the requests and counts connections.
class RawServer {
 public:
  struct Reply {
    std::string bytes;
    bool close = false;
    // Answer nothing: reset the connection (SO_LINGER 0, then close), as a
    // server that read the request and then crashed or was killed.
    bool reset = false;
  };
  using Responder = std::function<Reply(const std::string& request)>;

  // Listens on 127.0.0.1 and, on the same port, on each of `also_on`
  // (other loopback addresses), so that one URL port reaches it whichever
  // of them a host name resolves to.
  RawServer(asio::io_context& io, Responder respond, const std::vector<std::string>& also_on = {})
      : respond_(std::move(respond)) {
    acceptors_.emplace_back(io, asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    for (const auto& address : also_on) {
      acceptors_.emplace_back(io, asio::ip::tcp::endpoint{asio::ip::make_address(address), port()});
    }
    for (auto& a : acceptors_) Accept(a);
  }

  std::uint16_t port() const { return acceptors_.front().local_endpoint().port(); }
  std::string url(const std::string& path = "/send") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  int connections() const { return connections_; }
  int closed_by_us() const { return closed_by_us_; }
  int closed_by_client() const { return closed_by_client_; }
  int reset_by_us() const { return reset_by_us_; }
  // Writes `bytes` nobody asked for on every open connection, then closes
  // them; stray_written() counts the writes done.
  void SendStrayAndClose(const std::string& bytes) {
    auto data = std::make_shared<std::string>(bytes);
    for (const auto& weak : live_) {
      auto c = weak.lock();
      if (!c || !c->socket.is_open()) continue;
      asio::async_write(c->socket, asio::buffer(*data),
                        [this, c, data](const boost::system::error_code&, std::size_t) {
                          boost::system::error_code ignored;
                          c->socket.close(ignored);
                          ++stray_written_;
                        });
    }
  }
  int stray_written() const { return stray_written_; }
  const std::vector<std::string>& requests() const { return requests_; }

 private:
  struct Conn {
    explicit Conn(asio::ip::tcp::socket s) : socket(std::move(s)) {}
    asio::ip::tcp::socket socket;
    std::string buffer;
    std::array<char, 4096> chunk{};
  };

  void Accept(asio::ip::tcp::acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](const boost::system::error_code& ec,
                                            asio::ip::tcp::socket s) {
      if (ec) return;
      ++connections_;
      auto c = std::make_shared<Conn>(std::move(s));
      live_.push_back(c);
      Serve(c);
      Accept(acceptor);
    });
  }

  // A complete request (head and Content-Length body) from the front of `buf`.
  static std::optional<std::string> Take(std::string& buf) {
    const auto end = buf.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    std::size_t length = 0;
    std::string head = buf.substr(0, end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (const auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::stoul(head.substr(at + 18));
    }
    if (buf.size() < end + 4 + length) return std::nullopt;
    std::string request = buf.substr(0, end + 4 + length);
    buf.erase(0, request.size());
    return request;
  }

  void Serve(const std::shared_ptr<Conn>& c) {
    if (auto request = Take(c->buffer)) {
      requests_.push_back(*request);
      auto reply = std::make_shared<Reply>(respond_(*request));
      if (reply->reset) {
        boost::system::error_code ignored;
        c->socket.set_option(asio::socket_base::linger(true, 0), ignored);
        c->socket.close(ignored);
        ++reset_by_us_;
        return;
      }
      asio::async_write(c->socket, asio::buffer(reply->bytes),
                        [this, c, reply](const boost::system::error_code& ec, std::size_t) {
                          if (ec) return;
                          if (reply->close) {
                            boost::system::error_code ignored;
                            c->socket.close(ignored);
                            ++closed_by_us_;
                            return;
                          }
                          Serve(c);
                        });
      return;
    }
    c->socket.async_read_some(asio::buffer(c->chunk),
                              [this, c](const boost::system::error_code& ec, std::size_t n) {
                                if (ec == asio::error::eof) ++closed_by_client_;
                                if (ec) return;
                                c->buffer.append(c->chunk.data(), n);
                                Serve(c);
                              });
  }

  std::deque<asio::ip::tcp::acceptor> acceptors_;  // stable addresses for the handlers
  Responder respond_;
  int connections_ = 0;
  int closed_by_us_ = 0;
  int closed_by_client_ = 0;
  int reset_by_us_ = 0;
  int stray_written_ = 0;
  std::vector<std::string> requests_;
  std::vector<std::weak_ptr<Conn>> live_;
};

const char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// The request head's lines after the request line, sorted: engines may order
// headers differently, and servers may not care.
std::vector<std::string> HeaderLines(const std::string& request) {
  std::vector<std::string> lines;
  std::size_t at = request.find("\r\n") + 2;
  for (;;) {
    const auto eol = request.find("\r\n", at);
    if (eol == at || eol == std::string::npos) break;
    lines.push_back(request.substr(at, eol - at));
    at = eol + 2;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

// Both engines put the same request on the wire: the HTTP/1.1 client writes
// the headers curl adds on its own (Host, User-Agent, Accept, Authorization,
// Content-Type for form bodies, Content-Length), honours "Name:" as "do not
// send", and keeps the query string.
TEST_F(TransportTestBase, BothEnginesSendTheSameRequestBytes) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  std::vector<std::string> got;
  for (const HttpEngine engine : {HttpEngine::curl, HttpEngine::native}) {
    Transport t(io_, {.engine = engine});
    Request r;
    r.url = server.url("/2010-04-01/Accounts/AC1/Messages.json?x=1&y=%20#frag");
    r.headers = {"X-Trace: abc", "Accept:"};
    r.body = "To=%2B40700000001&Body=hi";
    r.basic_auth = "AC1:token";
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->status, 200) << resp->error_message;
    EXPECT_EQ(resp->body, "ok");
    got.push_back(server.requests().back());
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].substr(0, got[1].find("\r\n")),
            "POST /2010-04-01/Accounts/AC1/Messages.json?x=1&y=%20 HTTP/1.1");
  EXPECT_EQ(got[0].substr(0, got[0].find("\r\n")), got[1].substr(0, got[1].find("\r\n")));
  EXPECT_EQ(HeaderLines(got[0]), HeaderLines(got[1])) << got[0] << "\n---\n" << got[1];
  EXPECT_NE(got[1].find("\r\nAuthorization: Basic QUMxOnRva2Vu\r\n"), std::string::npos);
  EXPECT_EQ(got[1].find("Accept:"), std::string::npos);
  EXPECT_TRUE(got[1].ends_with("\r\n\r\nTo=%2B40700000001&Body=hi"));
}

// A server that closes a keep-alive connection between requests (its idle
// timeout): the next request on it is retried once on a new connection
// instead of failing.
TEST_P(TransportTest, KeepAliveConnectionClosedByTheServerIsReplacedTransparently) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk, true}; });
  Transport t(io_, Opts());
  for (int i = 0; i < 3; ++i) {
    std::optional<Response> resp;
    Request r;
    r.method = Method::get;
    r.url = server.url();
    t.Send(std::move(r), [&](Response x) { resp = std::move(x); });
    ASSERT_TRUE(RunUntil([&] { return resp.has_value() && server.closed_by_us() == i + 1; }));
    EXPECT_EQ(resp->error, TransportError::none) << i << ": " << resp->error_message;
    EXPECT_EQ(resp->status, 200);
  }
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(t.stats().transport_errors, 0u);
}

// Bodies larger than the socket buffers, both ways: the request goes out in
// several writes, the answer comes in over many reads.
TEST_P(TransportTest, LargeBodiesCrossTheWireWhole) {
  std::string big_answer(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big_answer.size(); ++i) big_answer[i] = static_cast<char>('a' + i % 26);
  RawServer server(io_, [&](const std::string& request) {
    const std::size_t body = request.size() - (request.find("\r\n\r\n") + 4);
    return RawServer::Reply{"HTTP/1.1 200 OK\r\nX-Received: " + std::to_string(body) +
                            "\r\nContent-Length: " + std::to_string(big_answer.size()) +
                            "\r\n\r\n" + big_answer};
  });
  Transport t(io_, Opts({.max_response_bytes = 4 * 1024 * 1024}));
  Request r;
  r.url = server.url();
  r.headers = {"Content-Type: application/octet-stream"};
  r.body.assign(5 * 1024 * 1024 + 3, 'x');
  const std::optional<Response> resp = SendAndWait(t, std::move(r), 30s);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->error, TransportError::none) << resp->error_message;
  ASSERT_NE(resp->header("x-received"), nullptr);
  EXPECT_EQ(*resp->header("x-received"), std::to_string(5 * 1024 * 1024 + 3));
  EXPECT_EQ(resp->body.size(), big_answer.size());
  EXPECT_TRUE(resp->body == big_answer);
}

TEST_P(TransportTest, ChunkedAnswerAfterAnInterimOneIsReassembled) {
  RawServer server(io_, [](const std::string&) {
    return RawServer::Reply{
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nX-Message-Id:  m-7 \r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"};
  });
  Transport t(io_, Opts());
  std::vector<Response> got;
  for (int i = 0; i < 2; ++i) {  // the second on the same, still usable, connection
    Request r;
    r.url = server.url();
    r.body = "{}";
    t.Send(std::move(r), [&](Response x) { got.push_back(std::move(x)); });
    ASSERT_TRUE(RunUntil([&] { return got.size() == static_cast<std::size_t>(i + 1); }));
  }
  for (const auto& resp : got) {
    EXPECT_EQ(resp.error, TransportError::none) << resp.error_message;
    EXPECT_EQ(resp.status, 202);
    EXPECT_EQ(resp.body, "hello world");
    ASSERT_NE(resp.header("x-message-id"), nullptr);
    EXPECT_EQ(*resp.header("X-Message-ID"), "m-7");
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST_P(TransportTest, BodyDelimitedByTheEndOfTheConnectionIsComplete) {
  RawServer server(io_, [](const std::string&) {
    return RawServer::Reply{"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nqueued id=42", true};
  });
  Transport t(io_, Opts());
  Request r;
  r.url = server.url();
  const std::optional<Response> resp = SendAndWait(t, std::move(r));
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->error, TransportError::none) << resp->error_message;
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "queued id=42");
}

TEST_P(TransportTest, AnswerThatIsNotHttpIsATransportError) {
  RawServer server(io_, [](const std::string&) {
    return RawServer::Reply{"220 smtp.example.com ESMTP ready\r\n", true};
  });
  Transport t(io_, Opts());
  Request r;
  r.url = server.url();
  const std::optional<Response> resp = SendAndWait(t, std::move(r));
  ASSERT_TRUE(resp.has_value());
  EXPECT_NE(resp->error, TransportError::none);
  EXPECT_EQ(t.stats().transport_errors, 1u);
}

// At the connection limit, requests queue; their timeout counts from Send, so
// one stuck behind a slow answer times out without waiting for it. (curl
// 7.88 does not: a transfer waiting for a connection times out only once it
// gets one.)
TEST_F(TransportTestBase, RequestQueuedBehindTheConnectionLimitTimesOutOnItsOwnDeadline) {
  auto mock = Mock({.latency_ms = 1500});
  Transport t(io_, {.max_connections_per_host = 1, .max_total_connections = 1,
                    .engine = HttpEngine::native});
  std::optional<Response> slow;
  std::optional<Response> queued;
  t.Send(TwilioPost(*mock), [&](Response x) { slow = std::move(x); });
  Request r = TwilioPost(*mock);
  r.timeout = 100ms;
  t.Send(std::move(r), [&](Response x) { queued = std::move(x); });
  ASSERT_TRUE(RunUntil([&] { return queued.has_value(); }));
  EXPECT_EQ(queued->error, TransportError::timeout);
  EXPECT_FALSE(slow.has_value());
  ASSERT_TRUE(RunUntil([&] { return slow.has_value(); }));
  EXPECT_EQ(slow->status, 201);
  EXPECT_EQ(mock->connections(), 1u);
}

// At the total limit, a request for another origin waits; a connection
// that finishes its exchange makes room for it instead of idling.
TEST_F(TransportTestBase, TotalConnectionLimitIsHandedOverBetweenOrigins) {
  auto slow = Mock({.latency_ms = 200});
  auto other = Mock();
  Transport t(io_, {.max_connections_per_host = 1, .max_total_connections = 1,
                    .engine = HttpEngine::native});
  std::optional<Response> first;
  std::optional<Response> second;
  t.Send(TwilioPost(*slow), [&](Response x) { first = std::move(x); });
  t.Send(TwilioPost(*other), [&](Response x) { second = std::move(x); });
  ASSERT_TRUE(RunUntil([&] { return first && second; }));
  EXPECT_EQ(first->status, 201);
  EXPECT_EQ(second->status, 201) << second->error_message;
  EXPECT_LT(second->elapsed, std::chrono::seconds(5)) << "served when the slot freed, not at its timeout";
  EXPECT_EQ(slow->connections(), 1u);
  EXPECT_EQ(other->connections(), 1u);
}

// A request waiting for its own origin's per-host limit does not take a
// connection of another origin: that one stays open for its next request.
TEST_F(TransportTestBase, RequestsHeldByTheirPerHostLimitLeaveOtherOriginsConnectionsAlone) {
  auto slow = Mock({.latency_ms = 300});
  auto other = Mock();
  Transport t(io_, {.max_connections_per_host = 1, .max_total_connections = 2,
                    .engine = HttpEngine::native});
  int slow_ok = 0;
  for (int i = 0; i < 2; ++i) {
    t.Send(TwilioPost(*slow), [&](Response x) { slow_ok += x.status == 201 ? 1 : 0; });
  }
  for (int i = 0; i < 2; ++i) {  // one after the other, while the slow origin has a queue
    const std::optional<Response> resp = SendAndWait(t, TwilioPost(*other));
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->status, 201) << resp->error_message;
  }
  EXPECT_EQ(other->connections(), 1u) << "the idle connection was reused, not closed";
  ASSERT_TRUE(RunUntil([&] { return slow_ok == 2; }));
  EXPECT_EQ(slow->connections(), 1u);
}

// A keep-alive connection left idle past idle_timeout is closed by the
// client; the next request opens a new one.
TEST_F(TransportTestBase, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, {.engine = HttpEngine::native, .idle_timeout = 200ms});
  const auto get = [&] {
    Request r;
    r.method = Method::get;
    r.url = server.url();
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(Response{}).status;
  };
  EXPECT_EQ(get(), 200);
  EXPECT_EQ(get(), 200);
  EXPECT_EQ(server.connections(), 1) << "reused while fresh";
  ASSERT_TRUE(RunUntil([&] { return server.closed_by_client() == 1; }, 5s));
  EXPECT_EQ(get(), 200);
  EXPECT_EQ(server.connections(), 2);
}

// Two keep-alive connections the server closed while idle: the retry after
// the first dead one takes a new connection, not the other dead one.
TEST_P(TransportTest, RetryAfterAStaleConnectionTakesANewOne) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, Opts({.max_connections_per_host = 2, .max_total_connections = 2,
                         .idle_check_after = 3600s}));  // no peek: the retry path alone
  int ok = 0;
  for (int i = 0; i < 2; ++i) {  // two at once: two connections
    Request r;
    r.method = Method::get;
    r.url = server.url();
    t.Send(std::move(r), [&](Response x) { ok += x.status == 200 ? 1 : 0; });
  }
  ASSERT_TRUE(RunUntil([&] { return ok == 2; }));
  ASSERT_EQ(server.connections(), 2);
  server.SendStrayAndClose("");
  ASSERT_TRUE(RunUntil([&] { return server.stray_written() == 2; }));
  Request r;
  r.method = Method::get;
  r.url = server.url();
  const std::optional<Response> resp = SendAndWait(t, std::move(r));
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->error, TransportError::none) << resp->error_message;
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(t.stats().transport_errors, 0u);
}

// A POST on a reused keep-alive connection that the server reads in full and
// then resets, answering nothing: the server may have acted on it, so it is
// not sent again behind the caller's back. The caller gets a failure (its
// retry policy decides, and counts it); the server saw exactly one copy.
TEST_P(TransportTest, PostReadByTheServerThenResetIsNotSentAgain) {
  int seen = 0;
  RawServer server(io_, [&](const std::string&) {
    ++seen;
    return seen == 2 ? RawServer::Reply{"", false, true} : RawServer::Reply{kOk};
  });
  Transport t(io_, Opts());
  Request first;
  first.url = server.url("/messages");
  first.body = "to=1&text=first";
  const std::optional<Response> ok = SendAndWait(t, std::move(first));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status, 200) << ok->error_message;
  Request second;
  second.url = server.url("/messages");
  second.body = "to=1&text=second";
  const std::optional<Response> failed = SendAndWait(t, std::move(second));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->error, TransportError::connect) << failed->status << " " << failed->error_message;
  EXPECT_EQ(server.reset_by_us(), 1);
  // A replay would have been answered before the callback ran: the count is final.
  const auto copies = std::count_if(server.requests().begin(), server.requests().end(),
                                    [](const std::string& r) { return r.ends_with("text=second"); });
  EXPECT_EQ(copies, 1) << "the POST was replayed";
  EXPECT_EQ(t.stats().transport_errors, 1u);
}

// The same reset after a GET: a GET may be repeated (RFC 9110 §9.2.2), and
// the retry on a new connection is answered.
TEST_P(TransportTest, GetReadByTheServerThenResetIsRetriedOnANewConnection) {
  int seen = 0;
  RawServer server(io_, [&](const std::string&) {
    ++seen;
    return seen == 2 ? RawServer::Reply{"", false, true} : RawServer::Reply{kOk};
  });
  Transport t(io_, Opts());
  for (int i = 0; i < 2; ++i) {
    Request r;
    r.method = Method::get;
    r.url = server.url("/status");
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->status, 200) << i << ": " << resp->error_message;
  }
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections(), 2);
}

// --- Untrusted destinations (Request::untrusted_destination) ----------------

// Every way a URL can name this machine's loopback: the classifier sees the
// resolved address, whatever the spelling. Only loopback is ever dialled here;
// other non-public ranges are covered by the classifier's unit tests.
const std::vector<std::string>& LoopbackSpellings() {
  static const std::vector<std::string> kHosts = {
      "127.0.0.1", "127.0.0.2",  "localhost",  "[::1]",
      "2130706433", "0x7f000001", "0177.0.0.1", "127.1"};
  return kHosts;
}

Request UntrustedPost(const std::string& host, std::uint16_t port) {
  Request r;
  r.url = "http://" + host + ":" + std::to_string(port) + "/push/abc";
  r.body = "encrypted";
  r.untrusted_destination = true;
  return r;
}

// Refused before any connection is attempted, with one generic reason, so
// that the answer tells nothing about what listens on which port.
TEST_P(TransportTest, UntrustedDestinationOnLoopbackIsRefusedWithoutConnecting) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; },
                   {"127.0.0.2", "::1"});
  Transport t(io_, Opts());
  for (const std::string& host : LoopbackSpellings()) {
    const std::optional<Response> resp = SendAndWait(t, UntrustedPost(host, server.port()));
    ASSERT_TRUE(resp.has_value()) << host;
    EXPECT_EQ(resp->error, TransportError::destination_not_allowed)
        << host << ": " << resp->status << " " << resp->error_message;
    EXPECT_EQ(resp->status, 0) << host;
    EXPECT_EQ(resp->error_message, "Destination address not allowed") << host;
  }
  EXPECT_EQ(server.connections(), 0);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(t.stats().transport_errors, LoopbackSpellings().size());
}

// The same requests reach a destination_allowlist network (how the tests and
// the demo reach a loopback mock).
TEST_P(TransportTest, UntrustedDestinationInTheAllowListIsReached) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; },
                   {"127.0.0.2", "::1"});
  Transport t(io_, Opts({.destination_allowlist = {*Cidr::Parse("127.0.0.0/8"),
                                                   *Cidr::Parse("::1")}}));
  for (const std::string& host : LoopbackSpellings()) {
    const std::optional<Response> resp = SendAndWait(t, UntrustedPost(host, server.port()));
    ASSERT_TRUE(resp.has_value()) << host;
    EXPECT_EQ(resp->error, TransportError::none) << host << ": " << resp->error_message;
    EXPECT_EQ(resp->status, 200) << host;
  }
  EXPECT_EQ(server.requests().size(), LoopbackSpellings().size());
}

// A connection a trusted request opened to an internal address is not lent
// to an untrusted request for the same origin: the check holds for reused
// connections too, not only for new ones.
TEST_P(TransportTest, ConnectionOfATrustedRequestIsNotReusedForAnUntrustedOne) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, Opts());
  Request trusted = UntrustedPost("127.0.0.1", server.port());
  trusted.untrusted_destination = false;
  const std::optional<Response> ok = SendAndWait(t, std::move(trusted));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status, 200) << ok->error_message;
  const std::optional<Response> refused = SendAndWait(t, UntrustedPost("127.0.0.1", server.port()));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error, TransportError::destination_not_allowed) << refused->error_message;
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.connections(), 1);
}

// Bytes a server put on an idle connection (a 408 before it closed) are not
// taken as the answer to the next request: the connection is checked
// before reuse and replaced.
TEST_F(TransportTestBase, IdleConnectionWithUnaskedBytesIsNotReused) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, {.engine = HttpEngine::native, .idle_check_after = 0ms});
  const auto get = [&] {
    Request r;
    r.method = Method::get;
    r.url = server.url();
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(Response{});
  };
  EXPECT_EQ(get().status, 200);
  server.SendStrayAndClose("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(RunUntil([&] { return server.stray_written() == 1; }));
  const Response next = get();
  EXPECT_EQ(next.status, 200) << next.error_message;
  EXPECT_EQ(server.connections(), 2);
}

// A URL with a line break or space is refused, not written into the request
// line (a template could otherwise smuggle headers or a second request).
TEST_P(TransportTest, UrlWithControlCharactersIsRefused) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, Opts());
  for (const std::string bad : {"/send?to=1\r\nX-Injected: 1", "/send?text=a b"}) {
    Request r;
    r.url = server.url(bad);
    r.timeout = 2s;
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    ASSERT_TRUE(resp.has_value());
    EXPECT_NE(resp->error, TransportError::none) << bad;
  }
  EXPECT_TRUE(server.requests().empty());
}

// GET carries no body (curl's rule), so a stray body cannot desynchronise
// the connection: the next request on it is answered normally.
TEST_P(TransportTest, GetSendsNoBody) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  Transport t(io_, Opts());
  for (int i = 0; i < 2; ++i) {
    Request r;
    r.method = Method::get;
    r.url = server.url();
    r.body = "not for a GET";
    const std::optional<Response> resp = SendAndWait(t, std::move(r));
    ASSERT_TRUE(resp.has_value());
    EXPECT_EQ(resp->status, 200) << resp->error_message;
  }
  ASSERT_EQ(server.requests().size(), 2u);
  for (const auto& req : server.requests()) {
    EXPECT_EQ(req.find("not for a GET"), std::string::npos) << req;
    EXPECT_TRUE(req.ends_with("\r\n\r\n")) << req;
  }
}

// Which engine carries what (HttpEngine::automatic).
TEST_F(TransportTestBase, AutomaticEngineSendsWhatWouldBeHttp1ThroughItsOwnClient) {
  RawServer server(io_, [](const std::string&) { return RawServer::Reply{kOk}; });
  const auto carried_natively = [&](TransportOptions o, const std::string& url) {
    Transport t(io_, o);
    Request r;
    r.method = Method::get;
    r.url = url;
    r.timeout = 300ms;  // the https:// ones meet a plain-text server and never finish
    bool done = false;
    t.Send(std::move(r), [&](Response) { done = true; });
    RunUntil([&] { return done; });
    return t.stats().http1_client == 1;
  };
  const std::string https = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  EXPECT_TRUE(carried_natively({}, server.url()));
  EXPECT_FALSE(carried_natively({}, https)) << "HTTP/2 may be negotiated: curl";
  EXPECT_TRUE(carried_natively({.http2 = false}, https));
  EXPECT_FALSE(carried_natively({.engine = HttpEngine::curl}, server.url()));
  EXPECT_TRUE(carried_natively({.engine = HttpEngine::native}, https));
  ::setenv("https_proxy", "http://127.0.0.1:9", 1);
  EXPECT_FALSE(carried_natively({.http2 = false}, https)) << "curl honours the proxy";
  ::unsetenv("https_proxy");
}

// --- TLS against Node's HTTPS server --------------------------------------------

class TransportTlsTest : public TransportTest {
 protected:
  // A self-signed certificate that is its own CA, for `san`.
  std::string Certificate(const std::string& name, const std::string& san) {
    const std::string key = dir_.File(name + ".key");
    const std::string cert = dir_.File(name + ".pem");
    const int rc = omnigate::testing::RunCommand(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name, "-addext",
         "subjectAltName=" + san});
    EXPECT_EQ(rc, 0) << "openssl req failed";
    return name;
  }

  // Starts Node's HTTPS server with that certificate; returns its port.
  int Serve(const std::string& name) {
    const std::string script = std::string(OMNIGATE_SOURCE_DIR) + "/tests/node/https_echo.js";
    const std::string port_file = dir_.File(name + ".port");
    servers_.push_back(std::make_unique<omnigate::testing::ChildProcess>(
        std::vector<std::string>{"/usr/bin/env", "node", script, "--key", dir_.File(name + ".key"),
                                 "--cert", dir_.File(name + ".pem"), "--port-file", port_file},
        dir_.File(name + ".log")));
    omnigate::testing::WaitFor([&] { return !omnigate::testing::ReadFile(port_file).empty(); });
    const std::string port = omnigate::testing::ReadFile(port_file);
    EXPECT_FALSE(port.empty()) << omnigate::testing::ReadFile(dir_.File(name + ".log"));
    return port.empty() ? 0 : std::stoi(port);
  }

  Response Post(Transport& t, const std::string& url) {
    Request r;
    r.url = url;
    r.headers = {"Content-Type: application/json"};
    r.body = R"({"to":"+40700000001"})";
    r.timeout = 10s;
    const std::optional<Response> resp = SendAndWait(t, std::move(r), 15s);
    EXPECT_TRUE(resp.has_value());
    return resp.value_or(Response{});
  }

  omnigate::testing::TempDir dir_;
  std::vector<std::unique_ptr<omnigate::testing::ChildProcess>> servers_;
};

INSTANTIATE_TEST_SUITE_P(Engines, TransportTlsTest,
                         ::testing::Values(HttpEngine::curl, HttpEngine::native),
                         EngineName);

TEST_P(TransportTlsTest, VerifiedConnectionCarriesRequestsAndIsKeptAlive) {
  const int port = Serve(Certificate("local", "IP:127.0.0.1,DNS:localhost"));
  Transport t(io_, Opts({.ca_file = dir_.File("local.pem"), .http2 = false}));
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const Response first = Post(t, "https://" + host + ":" + std::to_string(port) + "/v1/send");
    ASSERT_EQ(first.error, TransportError::none) << host << ": " << first.error_message;
    EXPECT_EQ(first.status, 200);
    EXPECT_NE(first.body.find(R"("method":"POST")"), std::string::npos) << first.body;
    EXPECT_NE(first.body.find(R"("body":"{\"to\":\"+40700000001\"}")"), std::string::npos)
        << first.body;
  }
  const Response again = Post(t, "https://localhost:" + std::to_string(port) + "/v1/send");
  EXPECT_EQ(again.status, 200);
  // Two origins (127.0.0.1 and localhost), one connection each, reused.
  EXPECT_NE(again.body.find(R"("connections":2)"), std::string::npos) << again.body;
}

TEST_P(TransportTlsTest, UntrustedCertificateIsATlsErrorUnlessVerificationIsOff) {
  const int port = Serve(Certificate("local", "IP:127.0.0.1,DNS:localhost"));
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/";
  Transport strict(io_, Opts({.http2 = false}));  // system store: does not know our CA
  const Response refused = Post(strict, url);
  EXPECT_EQ(refused.error, TransportError::tls) << refused.error_message;
  EXPECT_EQ(refused.status, 0);
  Transport lax(io_, Opts({.tls_verify = false, .http2 = false}));
  EXPECT_EQ(Post(lax, url).status, 200);
}

TEST_P(TransportTlsTest, CertificateForAnotherNameIsATlsError) {
  const int port = Serve(Certificate("elsewhere", "DNS:api.elsewhere.example"));
  Transport t(io_, Opts({.ca_file = dir_.File("elsewhere.pem"), .http2 = false}));
  const Response r = Post(t, "https://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(r.error, TransportError::tls) << r.error_message;
}

}  // namespace
}  // namespace omnigate::http
