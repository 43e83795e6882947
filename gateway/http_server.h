#pragma once

#include <atomic>
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
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// The gateway's one HTTP listener (DESIGN.md §6). Owns an io_context and the
// thread that runs it; handlers run on that thread and must be quick (they
// read counters or hand work to other threads). Routes are fixed before
// Start(). Admin routes demand "Authorization: Bearer <token>" when a token
// is configured.
class HttpServer {
 public:
  HttpServer(std::string listen, std::string admin_token);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `path` is exact, or a prefix when it ends with '*'.
  void Route(std::string method, std::string path, HttpHandler handler, bool admin = false);

  // Binds and starts serving. Returns the bound port, or an error naming the
  // address ("address already in use").
  Result<std::uint16_t, std::string> Start();
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::gateway
