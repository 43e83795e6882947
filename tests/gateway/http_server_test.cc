#include "gateway/http_server.h"

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace omnigate::gateway {
namespace {

using omnigate::testing::RunCommand;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartWithToken(const std::string& token) {
    server_ = std::make_unique<HttpServer>("127.0.0.1:0", token);
    server_->Route("GET", "/healthz", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "ok\n"};
    });
    server_->Route("POST", "/v1/echo/*", [](const HttpRequest& r) {
      const std::string* ct = r.header("content-type");
      return HttpResponse{200, "text/plain",
                          r.target + "|" + r.query + "|" + r.body + "|" + (ct ? *ct : "")};
    });
    server_->Route("GET", "/admin", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain", "secret stuff"};
    }, /*admin=*/true);
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
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

TEST(HttpServer, BadListenAddressIsReported) {
  HttpServer s("no-port-here", "");
  auto r = s.Start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("http.listen"), std::string::npos);
}

TEST(HttpServer, PortInUseIsReported) {
  HttpServer a("127.0.0.1:0", "");
  auto port = a.Start();
  ASSERT_TRUE(port);
  HttpServer b("127.0.0.1:" + std::to_string(*port), "");
  auto r = b.Start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("in use"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace omnigate::gateway
