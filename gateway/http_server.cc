#include "gateway/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace omnigate::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
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
    for (const auto& r : routes_) {
      const bool match = r.prefix ? req.target.rfind(r.path, 0) == 0 : req.target == r.path;
      if (!match) continue;
      path_matched = true;
      if (r.method != req.method) continue;
      if (r.needs_token && !token_.empty()) {
        const std::string* auth = req.header("authorization");
        if (auth == nullptr || auth->rfind("Bearer ", 0) != 0 ||
            !ConstantTimeEquals(std::string_view(*auth).substr(7), token_)) {
          return {401, "application/json", R"({"error":"missing or wrong bearer token"})"};
        }
      }
      return r.handler(req);
    }
    if (path_matched) return {405, "application/json", R"({"error":"method not allowed"})"};
    return {404, "application/json", R"({"error":"not found"})"};
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

    void Read() {
      parser.emplace();
      parser->body_limit(kMaxBodyBytes);
      // Covers a slow client as much as an idle keep-alive one.
      stream.expires_after(impl->options_.idle_timeout);
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
        Reply(HttpResponse{413, "application/json", R"({"error":"body too large"})"}, false, 11);
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

    void Reply(HttpResponse r, bool keep_alive, unsigned version) {
      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
          static_cast<bhttp::status>(r.status), version);
      res->set(bhttp::field::server, "omnigate");
      res->set(bhttp::field::content_type, r.content_type);
      res->set(bhttp::field::cache_control, "no-store");
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
  };

  HttpServerOptions options_;
  std::string listen_;
  std::string token_;
  std::vector<RouteEntry> routes_;
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

void HttpServer::Route(std::string method, std::string path, HttpHandler handler, Access access) {
  const auto& open = impl_->options_.open_routes;
  const bool listed_open = std::find(open.begin(), open.end(), path) != open.end();
  RouteEntry e{std::move(method), std::move(path), false,
               access == Access::admin && !listed_open, std::move(handler)};
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
  impl_->thread_ = std::thread([this] { impl_->io_.run(); });
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
