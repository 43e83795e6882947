#include "gateway/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::gateway {
namespace {

using omnigate::testing::RunCommand;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartWithToken(const std::string& token) {
    server_ = std::make_unique<HttpServer>(HttpServerOptions{
        .listen = "127.0.0.1:0", .admin_token = token, .open_routes = {"/healthz"}});
    server_->Route("GET", "/healthz", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "ok\n"};
    });
    server_->Route("POST", "/v1/echo/*", [](const HttpRequest& r) {
      const std::string* ct = r.header("content-type");
      return HttpResponse{200, "text/plain",
                          r.target + "|" + r.query + "|" + r.body + "|" + (ct ? *ct : "")};
    }, Access::open);
    server_->Route("GET", "/admin", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "secret stuff"};
    });
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    port_ = *port;
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }

  // Returns "STATUS BODY".
  std::string Curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-s", "-o", "-", "-w", " %{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(RunCommand(argv, &out), 0);
    return out;
  }

  std::unique_ptr<HttpServer> server_;
  std::string base_;
  int port_ = 0;
};

TEST_F(HttpServerTest, RoutesExactAndPrefixPathsWithQueryAndBody) {
  StartWithToken("");
  EXPECT_EQ(Curl({base_ + "/healthz"}), "ok\n 200");
  EXPECT_EQ(Curl({"-X", "POST", "-H", "Content-Type: application/json", "--data", "{\"a\":1}",
                  base_ + "/v1/echo/twilio?x=1"}),
            "/v1/echo/twilio|x=1|{\"a\":1}|application/json 200");
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  StartWithToken("");
  EXPECT_NE(Curl({base_ + "/nope"}).find(" 404"), std::string::npos);
  EXPECT_NE(Curl({"-X", "DELETE", base_ + "/healthz"}).find(" 405"), std::string::npos);
}

TEST_F(HttpServerTest, AdminRoutesNeedTheBearerTokenWhenConfigured) {
  StartWithToken("s3cret");
  EXPECT_NE(Curl({base_ + "/admin"}).find(" 401"), std::string::npos);
  EXPECT_NE(Curl({"-H", "Authorization: Bearer wrong", base_ + "/admin"}).find(" 401"),
            std::string::npos);
  EXPECT_EQ(Curl({"-H", "Authorization: Bearer s3cret", base_ + "/admin"}), "secret stuff 200");
  // Non-admin routes stay open.
  EXPECT_EQ(Curl({base_ + "/healthz"}), "ok\n 200");
}

// A browser cannot send a bearer token for a page it is asked to open: it
// is challenged for HTTP Basic and sends the token as the password.
TEST_F(HttpServerTest, ABrowserGetsABasicChallengeAndMayAnswerWithTheToken) {
  StartWithToken("s3cret");
  std::string headers;
  ASSERT_EQ(RunCommand({"curl", "-s", "-D", "-", "-o", "/dev/null", base_ + "/admin"}, &headers), 0);
  EXPECT_NE(headers.find("HTTP/1.1 401"), std::string::npos) << headers;
  EXPECT_NE(headers.find("WWW-Authenticate: Basic realm=\"omnigate\""), std::string::npos)
      << headers;
  EXPECT_NE(headers.find("WWW-Authenticate: Bearer realm=\"omnigate\""), std::string::npos)
      << headers;
  EXPECT_EQ(Curl({"-u", "anyone:s3cret", base_ + "/admin"}), "secret stuff 200");
  EXPECT_NE(Curl({"-u", "anyone:wrong", base_ + "/admin"}).find(" 401"), std::string::npos);
  EXPECT_NE(Curl({"-u", "s3cret:", base_ + "/admin"}).find(" 401"), std::string::npos)
      << "the token is the password, not the user name";
  EXPECT_NE(Curl({"-H", "Authorization: Basic not-base64!", base_ + "/admin"}).find(" 401"),
            std::string::npos);
}

TEST_F(HttpServerTest, AdminRoutesAreOpenWithoutAToken) {
  StartWithToken("");
  EXPECT_EQ(Curl({base_ + "/admin"}), "secret stuff 200");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartWithToken("");
  std::string out;
  ASSERT_EQ(RunCommand({"curl", "-sv", base_ + "/healthz", base_ + "/healthz"}, &out), 0);
  EXPECT_EQ(out, "ok\nok\n");
}

TEST_F(HttpServerTest, ARouteMayTakeALargerBodyFromCallersWithTheToken) {
  server_ = std::make_unique<HttpServer>(
      HttpServerOptions{.listen = "127.0.0.1:0", .admin_token = "s3cret"});
  auto size = [](const HttpRequest& r) {
    return HttpResponse{200, "text/plain", std::to_string(r.body.size())};
  };
  server_->Route("POST", "/small", size);
  server_->Route("POST", "/large", size, Access::admin, 4u << 20);
  auto port = server_->Start();
  ASSERT_TRUE(port) << port.error();
  base_ = "http://127.0.0.1:" + std::to_string(*port);
  omnigate::testing::TempDir dir;
  const std::string file = dir.File("body");
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string body(2u << 20, 'x');
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
  }
  auto with = [&](std::vector<std::string> args) {
    const std::vector<std::string> upload = {
        "-H", "Expect: 100-continue", "--expect100-timeout", "30", "--data-binary", "@" + file};
    args.insert(args.begin(), upload.begin(), upload.end());
    return Curl(args);
  };
  // curl waits for "100 Continue" up to the timeout: answered at once, the
  // upload takes nowhere near it.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(with({"-H", "Authorization: Bearer s3cret", base_ + "/large"}), "2097152 200");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // The usual limit elsewhere, named in the answer; no token, no body read.
  EXPECT_EQ(with({"-H", "Authorization: Bearer s3cret", base_ + "/small"}),
            R"({"error":"body too large: at most 1048576 bytes"} 413)");
  EXPECT_NE(with({base_ + "/large"}).find(" 401"), std::string::npos);
}

TEST(HttpServer, BadListenAddressIsReported) {
  HttpServer s({.listen = "no-port-here"});
  auto r = s.Start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("http.listen"), std::string::npos);
}

TEST(HttpServer, PortInUseIsReported) {
  HttpServer a({.listen = "127.0.0.1:0"});
  auto port = a.Start();
  ASSERT_TRUE(port);
  HttpServer b({.listen = "127.0.0.1:" + std::to_string(*port)});
  auto r = b.Start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("in use"), std::string::npos) << r.error();
}

// What the logger wrote, read under the lock the logging threads write under
// (an ostringstream read while the server thread writes to it is a data race).
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  int Count(std::string_view needle) {
    const std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (std::size_t at = text_.find(needle); at != std::string::npos;
         at = text_.find(needle, at + needle.size())) {
      ++n;
    }
    return n;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_ += '\n';
  }
  void flush_() override {}

 private:
  std::string text_;
};

// Counts the lines the default logger writes that contain `needle`.
class LogCapture {
 public:
  LogCapture() : saved_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(saved_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  int Count(std::string_view needle) { return sink_->Count(needle); }

 private:
  std::shared_ptr<spdlog::logger> saved_;
  std::shared_ptr<CaptureSink> sink_ = std::make_shared<CaptureSink>();
};

// With every descriptor in use, accept fails with EMFILE for as long as that
// lasts while the connection stays queued. The server must neither spin on it
// (one warning, not thousands) nor give up: once descriptors are free again
// the queued connection is served.
TEST_F(HttpServerTest, OutOfDescriptorsBacksOffAndServesTheQueuedConnectionLater) {
  StartWithToken("");
  LogCapture logs;
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  const timeval rcv_timeout{10, 0};
  ASSERT_EQ(::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &rcv_timeout, sizeof rcv_timeout), 0);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The lowest free descriptor number becomes the limit: no new descriptor
  // can be created in this process (the server's accept included).
  const int probe = ::dup(0);
  ASSERT_GE(probe, 0);
  ::close(probe);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(probe);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected = ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (logs.Count("accept failed") == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const int failures_seen = logs.Count("accept failed");
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(connected, 0);
  EXPECT_EQ(failures_seen, 1);

  const std::string request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(client, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[512];
  for (ssize_t n; (n = ::recv(client, buf, sizeof buf, 0)) > 0;) response.append(buf, n);
  ::close(client);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  EXPECT_LE(logs.Count("accept failed"), 1);
}

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const timeval rcv_timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv_timeout, sizeof rcv_timeout);
  return fd;
}

// Hardening #8: 22,000 idle connections to the listener took every
// descriptor and provider sends failed to connect. Connections over the cap
// wait in the kernel's queue; idle ones are closed after idle_timeout.
TEST(HttpServer, CapsConnectionsAndClosesIdleOnes) {
  HttpServer server({.listen = "127.0.0.1:0",
                     .max_connections = 2,
                     .idle_timeout = std::chrono::milliseconds(500)});
  server.Route("GET", "/healthz", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "ok\n"};
  });
  auto port = server.Start();
  ASSERT_TRUE(port) << port.error();
  const int idle1 = ConnectLoopback(*port);
  const int idle2 = ConnectLoopback(*port);
  ASSERT_GE(idle1, 0);
  ASSERT_GE(idle2, 0);
  ASSERT_TRUE(testing::WaitFor([&] { return server.connections() == 2; }));
  // The third connects (the kernel queues it) but is not taken while two are open.
  const int third = ConnectLoopback(*port);
  ASSERT_GE(third, 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(third, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  // Not answered while both slots are held (an uncapped server answers in
  // well under the 200 ms looked at here; the idle timeout is 500 ms).
  pollfd waiting{third, POLLIN, 0};
  EXPECT_EQ(::poll(&waiting, 1, 200), 0) << "served over the connection cap";
  EXPECT_EQ(server.connections(), 2);
  // The idle ones are closed by the server (EOF), then the third is served.
  char buf[512];
  EXPECT_EQ(::recv(idle1, buf, sizeof buf, 0), 0);
  EXPECT_EQ(::recv(idle2, buf, sizeof buf, 0), 0);
  std::string response;
  for (ssize_t n; (n = ::recv(third, buf, sizeof buf, 0)) > 0;) response.append(buf, n);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  EXPECT_LE(server.connections(), 2);
  for (int fd : {idle1, idle2, third}) ::close(fd);
}

}  // namespace
}  // namespace omnigate::gateway
