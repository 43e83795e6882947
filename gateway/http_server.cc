#include "gateway/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "common/text.h"
#include "common/thread_name.h"

namespace omnigate::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreAsciiCase(k, name)) return &v;
  }
  return nullptr;
}

namespace {

struct RouteEntry {
  std::string method;
  std::string path;
  bool prefix = false;
  bool needs_token = true;
  HttpHandler handler;
  std::size_t max_body_bytes = 0;  // 0 = kMaxBodyBytes
};

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

constexpr std::size_t kMaxBodyBytes = 1 << 20;

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions options)
      : options_(std::move(options)), listen_(options_.listen), token_(options_.admin_token) {}

  HttpResponse Dispatch(const HttpRequest& req) const {
    bool path_matched = false;
    const RouteEntry* r = Find(req.method, req.target, path_matched);
    if (r == nullptr) {
      if (path_matched) return {405, "application/json", R"({"error":"method not allowed"})"};
      return {404, "application/json", R"({"error":"not found"})"};
    }
    if (!Authorized(*r, req.header("authorization"))) return Unauthorized();
    return r->handler(req);
  }

  const RouteEntry* Find(std::string_view method, std::string_view path, bool& path_matched) const {
    for (const auto& r : routes_) {
      const bool match = r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
      if (!match) continue;
      path_matched = true;
      if (r.method == method) return &r;
    }
    return nullptr;
  }

  bool Authorized(const RouteEntry& r, const std::string* auth) const {
    if (!r.needs_token || token_.empty()) return true;
    if (auth == nullptr) return false;
    if (auth->rfind("Bearer ", 0) == 0) {
      return ConstantTimeEquals(std::string_view(*auth).substr(7), token_);
    }
    if (auth->rfind("Basic ", 0) == 0) {
      const auto credentials = DecodeBase64(std::string_view(*auth).substr(6));
      if (!credentials) return false;
      const auto colon = credentials->find(':');
      return colon != std::string::npos &&
             ConstantTimeEquals(std::string_view(*credentials).substr(colon + 1), token_);
    }
    return false;
  }

  static HttpResponse Unauthorized() {
    HttpResponse r{401, "application/json", R"({"error":"missing or wrong admin token"})"};
    r.headers = {{"WWW-Authenticate", R"(Basic realm="omnigate", charset="UTF-8")"},
                 {"WWW-Authenticate", R"(Bearer realm="omnigate")"}};
    return r;
  }

  // What a request may send, decided once its header is read: the body
  // limit of its route, or nullopt when it lacks the token the route needs
  // (then at most kMaxBodyBytes, so that a route's larger limit serves only
  // those allowed to call it).
  std::optional<std::size_t> BodyLimit(std::string_view method, std::string_view path,
                                       const std::string* auth) const {
    bool path_matched = false;
    const RouteEntry* r = Find(method, path, path_matched);
    if (r == nullptr) return kMaxBodyBytes;  // answered 404 or 405 once read
    if (!Authorized(*r, auth)) return std::nullopt;
    return r->max_body_bytes == 0 ? kMaxBodyBytes : r->max_body_bytes;
  }

  // One accept at a time, and none while at the connection cap: waiting
  // connections stay in the kernel's queue, holding no descriptor of ours.
  void Accept() {
    if (accepting_ || !acceptor_ || !acceptor_->is_open()) return;
    if (connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      if (!at_cap_logged_) {
        spdlog::warn("http: {} connections open (http.max_connections); new ones wait until "
                     "one closes",
                     options_.max_connections);
        at_cap_logged_ = true;
      }
      return;
    }
    accepting_ = true;
    acceptor_->async_accept([this](beast::error_code ec, tcp::socket socket) {
      accepting_ = false;
      if (ec) {
        if (ec != asio::error::operation_aborted) AcceptLater(ec);
        return;
      }
      connections_.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }

  // Session destructor, on the server's thread.
  void Closed() {
    connections_.fetch_sub(1, std::memory_order_relaxed);
    // Sessions still queued in io_ die with it, after the acceptor.
    if (stopped_) return;
    if (connections_.load(std::memory_order_relaxed) < options_.max_connections) {
      at_cap_logged_ = false;
    }
    Accept();
  }

  // Accept failures (EMFILE when every descriptor is in use, ENOBUFS) persist
  // while their cause does, and the pending connection stays queued: retrying
  // at once would spin and flood the log. Wait, then try again; log at most
  // every 10 s with the count in between.
  void AcceptLater(const beast::error_code& ec) {
    const auto now = std::chrono::steady_clock::now();
    ++accept_failures_;
    if (now - last_accept_log_ >= std::chrono::seconds(10)) {
      spdlog::warn("http: accept failed: {} ({} time(s) since the last report); retrying "
                   "every 100 ms",
                   ec.message(), accept_failures_);
      accept_failures_ = 0;
      last_accept_log_ = now;
    }
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](const beast::error_code& wait_ec) {
      if (!wait_ec && acceptor_ && acceptor_->is_open()) Accept();
    });
  }

  // One keep-alive connection; lives while its async operations hold it.
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* server, tcp::socket s) : impl(server), stream(std::move(s)) {}
    ~Session() { impl->Closed(); }

    // The header first, so that the body limit can be the route's own
    // (bulk imports take more than other routes) and a client that waits for
    // "100 Continue" (curl does, for large uploads) is not left waiting.
    void Read() {
      parser.emplace();
      // A Content-Length above this fails while the header is parsed, before
      // the route is known: the largest limit of any route. OnHeader narrows it.
      parser->body_limit(impl->max_body_bytes_);
      body_limit = impl->max_body_bytes_;
      // Covers a slow client as much as an idle keep-alive one.
      stream.expires_after(impl->options_.idle_timeout);
      bhttp::async_read_header(
          stream, buffer, *parser,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
    }

    void OnHeader(beast::error_code ec) {
      if (ec) {
        OnRead(ec);
        return;
      }
      const auto& msg = parser->get();
      const std::string_view target = msg.target();
      const auto auth = msg.find(bhttp::field::authorization);
      const std::string auth_value = auth == msg.end() ? std::string() : std::string(auth->value());
      auto limit = impl->BodyLimit(msg.method_string(), target.substr(0, target.find('?')),
                                   auth == msg.end() ? nullptr : &auth_value);
      const bool wants_continue =
          !parser->is_done() && EqualsIgnoreAsciiCase(msg[bhttp::field::expect], "100-continue");
      if (!limit) {
        // A client waiting for "100 Continue" has not sent its body: refuse
        // it now, and close, as the body will not be read.
        if (wants_continue) {
          Reply(Impl::Unauthorized(), false, msg.version());
          return;
        }
        limit = kMaxBodyBytes;  // read as any other; Dispatch answers 401
      }
      const auto length = parser->content_length();
      if (length && *length > *limit) {
        ReplyTooLarge(*limit, msg.version());
        return;
      }
      body_limit = *limit;
      parser->body_limit(*limit);  // chunked bodies count against it as they arrive
      if (wants_continue) {
        auto go_on = std::make_shared<bhttp::response<bhttp::empty_body>>(
            bhttp::status::continue_, msg.version());
        bhttp::async_write(stream, *go_on,
                           [self = shared_from_this(), go_on](beast::error_code wec, std::size_t) {
                             if (!wec) self->ReadBody();
                           });
        return;
      }
      ReadBody();
    }

    void ReadBody() {
      bhttp::async_read(stream, buffer, *parser,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          self->OnRead(ec);
                        });
    }

    void OnRead(beast::error_code ec) {
      if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      if (ec == bhttp::error::body_limit) {
        ReplyTooLarge(body_limit, 11);
        return;
      }
      if (ec) return;
      auto& msg = parser->get();
      HttpRequest req;
      req.method = std::string(msg.method_string());
      const std::string_view target = msg.target();
      const auto q = target.find('?');
      req.target = std::string(target.substr(0, q));
      if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
      for (const auto& f : msg) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        req.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      req.body = std::move(msg.body());
      Reply(impl->Dispatch(req), msg.keep_alive(), msg.version());
    }

    void ReplyTooLarge(std::size_t limit, unsigned version) {
      Reply(HttpResponse{413, "application/json",
                         fmt::format(R"({{"error":"body too large: at most {} bytes"}})", limit)},
            false, version);
    }

    void Reply(HttpResponse r, bool keep_alive, unsigned version) {
      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
          static_cast<bhttp::status>(r.status), version);
      res->set(bhttp::field::server, "omnigate");
      res->set(bhttp::field::content_type, r.content_type);
      res->set(bhttp::field::cache_control, "no-store");
      for (const auto& [name, value] : r.headers) res->insert(name, value);
      res->keep_alive(keep_alive);
      res->body() = std::move(r.body);
      res->prepare_payload();
      bhttp::async_write(stream, *res,
                         [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                           if (ec) return;
                           if (!res->keep_alive()) {
                             beast::error_code ignored;
                             self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                             return;
                           }
                           self->Read();
                         });
    }

    Impl* impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser;
    std::size_t body_limit = kMaxBodyBytes;  // of the request being read
  };

  HttpServerOptions options_;
  std::string listen_;
  std::string token_;
  std::vector<RouteEntry> routes_;
  std::size_t max_body_bytes_ = kMaxBodyBytes;  // the largest limit of any route
  std::atomic<int> connections_{0};
  bool accepting_ = false;  // server thread only
  bool at_cap_logged_ = false;
  bool stopped_ = false;  // set once the server thread has ended
  asio::io_context io_{1};
  std::optional<tcp::acceptor> acceptor_;
  asio::steady_timer accept_retry_{io_};
  std::uint64_t accept_failures_ = 0;
  std::chrono::steady_clock::time_point last_accept_log_{};
  std::thread thread_;
};

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string path, HttpHandler handler, Access access,
                       std::size_t max_body_bytes) {
  const auto& open = impl_->options_.open_routes;
  const bool listed_open = std::find(open.begin(), open.end(), path) != open.end();
  RouteEntry e{std::move(method), std::move(path), false,
               access == Access::admin && !listed_open, std::move(handler), max_body_bytes};
  impl_->max_body_bytes_ = std::max(impl_->max_body_bytes_, max_body_bytes);
  if (!e.path.empty() && e.path.back() == '*') {
    e.prefix = true;
    e.path.pop_back();
  }
  impl_->routes_.push_back(std::move(e));
}

int HttpServer::connections() const {
  return impl_->connections_.load(std::memory_order_relaxed);
}

Result<std::uint16_t, std::string> HttpServer::Start() {
  const auto colon = impl_->listen_.rfind(':');
  if (colon == std::string::npos) {
    return MakeUnexpected("http.listen '" + impl_->listen_ + "': expected host:port");
  }
  std::string host = impl_->listen_.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = impl_->listen_.substr(colon + 1);
  beast::error_code ec;
  tcp::resolver resolver(impl_->io_);
  auto results = resolver.resolve(host.empty() ? "0.0.0.0" : host, port,
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return MakeUnexpected("http.listen '" + impl_->listen_ + "': " + ec.message());
  }
  const tcp::endpoint ep = *results.begin();
  auto& acc = impl_->acceptor_.emplace(impl_->io_);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return MakeUnexpected("http.listen '" + impl_->listen_ + "': " + ec.message());
  const auto bound = acc.local_endpoint().port();
  impl_->Accept();
  impl_->thread_ = std::thread([this] {
    SetThreadName("og-http");
    impl_->io_.run();
  });
  return bound;
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->thread_.joinable()) return;
  asio::post(impl_->io_, [this] {
    beast::error_code ignored;
    if (impl_->acceptor_) impl_->acceptor_->close(ignored);
    impl_->accept_retry_.cancel();
  });
  impl_->io_.stop();
  impl_->thread_.join();
  impl_->stopped_ = true;
}

}  // namespace omnigate::gateway
