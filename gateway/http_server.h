#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

namespace omnigate::gateway {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path without the query string
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The first header named `name`, in any case ("X-Twilio-Signature").
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added to the defaults
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string listen;  // "host:port"
  // Every route demands the token when this is set, except those in
  // `open_routes` and those registered as Access::open: "Authorization:
  // Bearer <token>", or HTTP Basic with the token as the password (any user
  // name), which is what a browser sends for the dashboard after asking.
  // A refusal carries both challenges (RFC 7235).
  std::string admin_token;
  std::vector<std::string> open_routes;  // exact paths, e.g. "/healthz"
  int max_connections = 256;
  std::chrono::milliseconds idle_timeout{15'000};
};

// Who may call a route.
enum class Access : std::uint8_t {
  admin,  // the bearer token, when one is configured (unless listed in open_routes)
  open,   // anyone: the route authenticates its callers itself (signed receipts)
};

// The gateway's one HTTP listener (DESIGN.md §6). Owns an io_context and the
// thread that runs it; handlers run on that thread and must be quick (they
// read counters or hand work to other threads). Routes are fixed before
// Start(). At most `max_connections` connections are served at once; while at
// the cap it stops accepting (the kernel queues further connections without
// using a descriptor), and a connection that sends no complete request for
// `idle_timeout` is closed.
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `path` is exact, or a prefix when it ends with '*'. Request bodies are
  // capped at 1 MiB (413 above it) unless the route sets `max_body_bytes`;
  // a limit above 1 MiB applies only to callers with the admin token (when
  // one is configured), so only they can make the server buffer that much.
  void Route(std::string method, std::string path, HttpHandler handler,
             Access access = Access::admin, std::size_t max_body_bytes = 0);

  // Connections being served now (approximate from other threads).
  int connections() const;

  // Binds and starts serving. Returns the bound port, or an error naming the
  // address ("address already in use").
  Result<std::uint16_t, std::string> Start();
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::gateway
