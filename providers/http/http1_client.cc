// HTTP/1.1 client on Asio sockets; see http1_client.h for what it is and why.
//
// Life of a request: Send parses the URL and writes the request head once
// into the Exchange; Dispatch gives the exchange to an idle connection of its
// origin, opens a new connection when the limits allow, or queues it. On a
// connection, Start writes head and body with one gathered write (the socket
// is non-blocking, so a write that fits the send buffer completes on the
// spot), then waits for readability and reads what is there: one read per
// answer that fits the buffer. Beast's parser is fed in place; a complete
// answer hands the connection to the next queued exchange or back to the idle
// list before the callback runs.
#include "providers/http/http1_client.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/text.h"
#include "providers/http/address_policy.h"
#include "providers/http/http1_response_reader.h"

namespace omnigate::http::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

// How long a resolved host name is reused for new connections (curl's
// default DNS cache timeout).
constexpr auto kDnsCacheTtl = std::chrono::seconds(60);

// curl refuses URLs with spaces or control characters; taking them would let
// a templated URL split the request line.
bool HasForbiddenBytes(std::string_view url) {
  return std::any_of(url.begin(), url.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

// Views into the request's url.
struct Url {
  bool tls = false;
  std::string_view host;  // without brackets for IPv6 literals, as written
  std::uint16_t port = 0;
  std::string_view target;     // path and query
  std::string_view authority;  // Host header value
  std::size_t origin_length = 0;  // of "scheme://authority"
};

std::string_view WithoutFragment(std::string_view rest) {
  const std::size_t hash = rest.find('#');
  return hash == std::string_view::npos ? rest : rest.substr(0, hash);
}

// scheme://host[:port][/path][?query][#fragment]; no user info.
std::optional<Url> ParseUrl(std::string_view url) {
  if (HasForbiddenBytes(url)) return std::nullopt;
  Url u;
  const std::size_t full = url.size();
  if (url.rfind("http://", 0) == 0) {
    url.remove_prefix(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    url.remove_prefix(8);
  } else {
    return std::nullopt;
  }
  const std::size_t end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  u.port = u.tls ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  u.host = host;
  u.authority = authority;
  u.target = WithoutFragment(rest);
  u.origin_length = full - url.size() + authority.size();
  return u;
}

bool HasHeader(const std::vector<std::string>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const std::string& h) {
    return h.size() > name.size() && h[name.size()] == ':' &&
           EqualsIgnoreAsciiCase(std::string_view(h).substr(0, name.size()), name);
  });
}

// Whether the request's body goes on the wire (curl's rules: POST and PUT
// always, with Content-Length 0 when empty; DELETE when it has one; GET never).
bool CarriesBody(const Request& r) {
  return r.method == Method::post || r.method == Method::put ||
         (r.method == Method::del && !r.body.empty());
}

std::string_view MethodName(Method m) {
  switch (m) {
    case Method::get: return "GET";
    case Method::post: return "POST";
    case Method::put: return "PUT";
    case Method::del: return "DELETE";
  }
  return "POST";
}

}  // namespace

class Http1Client::Impl {
 public:
  Impl(asio::io_context& io, const TransportOptions& options)
      : io_(io), options_(options), resolver_(io), timer_(io) {}

  ~Impl() {
    *alive_ = false;
    timer_.cancel();
    resolver_.cancel();
    for (auto& [key, host] : hosts_) {
      for (const auto& c : host->conns) Close(*c);
    }
  }

  // See Http1Client::TrySend.
  bool TrySend(Request& request, Transport::Callback& done) {
    // Requests of a transport mostly go to one origin: the last one's Host
    // is found by comparing the URL's start, without parsing or hashing.
    const std::string_view url = request.url;
    Host* host = last_host_;
    std::string_view target;
    if (host != nullptr && url.size() >= last_origin_.size() &&
        url.compare(0, last_origin_.size(), last_origin_) == 0 &&
        (url.size() == last_origin_.size() ||
         std::string_view("/?#").find(url[last_origin_.size()]) != std::string_view::npos) &&
        !HasForbiddenBytes(url)) {
      target = WithoutFragment(url.substr(last_origin_.size()));
    } else {
      auto parsed = ParseUrl(url);
      if (!parsed) return false;
      host = &HostFor(*parsed);
      host->authority = std::string(parsed->authority);
      target = parsed->target;
      last_host_ = host;
      last_origin_.assign(url.substr(0, parsed->origin_length));
    }
    auto ex = std::make_unique<Exchange>();
    ex->done = std::move(done);
    ex->started = Clock::now();
    // curl's conventions: no total timeout at 0, a 300 s connect timeout at 0.
    ex->deadline = request.timeout.count() > 0 ? ex->started + request.timeout
                                               : Clock::time_point::max();
    ex->connect_timeout = request.connect_timeout.count() > 0 ? request.connect_timeout
                                                              : std::chrono::seconds(300);
    ++stats_.started;
    if (host->tls && !TlsReady()) {
      FailLater(std::move(ex), TransportError::tls, tls_setup_error_);
      return true;
    }
    WriteHead(request, target, host->authority, ex->head);
    ex->with_body = CarriesBody(request);
    ex->request = std::move(request);
    ++in_flight_;
    Dispatch(*host, std::move(ex));
    return true;
  }

  std::size_t in_flight() const { return in_flight_; }
  TransportStats stats() const { return stats_; }

 private:
  struct Exchange {
    Request request;
    Transport::Callback done;
    std::string head;
    Response response;
    Clock::time_point started;
    Clock::time_point deadline;
    std::chrono::milliseconds connect_timeout{0};
    bool retried = false;
    bool with_body = false;  // CarriesBody(request)
  };

  struct Host;

  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket& lowest() { return tls ? tls->next_layer() : socket; }

    Host* host = nullptr;
    tcp::socket socket;  // plain connections; TLS ones own theirs in `tls`
    std::unique_ptr<asio::ssl::stream<tcp::socket>> tls;
    std::unique_ptr<Exchange> ex;
    Http1ResponseReader reader;  // of the current exchange's answer
    std::vector<char> tls_buffer;
    Clock::time_point deadline;  // connect deadline while connecting, then the exchange's
    Clock::time_point idle_since;
    bool connected = false;
    bool closed = false;
    bool reused = false;       // served an earlier exchange
    bool wrote = false;        // a byte of the current exchange's request left
    bool got_bytes = false;    // of the current exchange's answer
    // The peer is a public address or allow-listed: the connection may carry
    // untrusted_destination requests.
    bool peer_allowed = false;
  };

  struct Host {
    bool tls = false;
    std::string name;  // lower case
    std::uint16_t port = 0;
    std::string authority;  // Host header: as the latest URL that opened this origin wrote it
    bool literal = false;  // an IP address: nothing to resolve
    std::vector<tcp::endpoint> endpoints;
    Clock::time_point resolved_until;
    std::unordered_set<std::shared_ptr<Conn>> conns;
    std::vector<std::shared_ptr<Conn>> idle;  // back = most recently used
    std::deque<std::unique_ptr<Exchange>> waiting;
  };

  // A completion handler for connection `c`: runs `f` only while this client
  // lives and the connection is open; a handler of a closed connection or of
  // a destroyed client ends here.
  template <typename F>
  auto OnConn(const std::shared_ptr<Conn>& c, F f) {
    return [c, f = std::move(f), alive = std::weak_ptr<bool>(alive_)](auto&&... args) {
      const auto a = alive.lock();
      if (!a || !*a || c->closed) return;
      f(std::forward<decltype(args)>(args)...);
    };
  }

  // The TLS context, set up on the first https:// request: loading the
  // system's CA store takes tens of milliseconds, which transports that never
  // see https:// need not pay.
  bool TlsReady() {
    if (tls_) return tls_setup_error_.empty();
    tls_.emplace(asio::ssl::context::tls_client);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
    error_code ec;
    if (!options_.ca_file.empty()) {
      tls_->load_verify_file(options_.ca_file, ec);
      if (ec) tls_setup_error_ = "cannot load ca_file " + options_.ca_file + ": " + ec.message();
    } else {
      tls_->set_default_verify_paths(ec);
      if (ec) tls_setup_error_ = "cannot load the system CA store: " + ec.message();
    }
    tls_->set_verify_mode(options_.tls_verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
    static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(tls_->native_handle(), kAlpn, sizeof(kAlpn));
    return tls_setup_error_.empty();
  }

  // "POST /path HTTP/1.1" and the headers curl would send for the same
  // Request: Host, User-Agent, Accept, Authorization, Content-Type for form
  // bodies without one, Content-Length for bodies, then the request's own.
  void WriteHead(const Request& r, std::string_view target, std::string_view authority,
                 std::string& out) {
    out.reserve(256 + r.url.size());
    out.append(MethodName(r.method));
    out.push_back(' ');
    if (target.empty() || target.front() == '?') out.push_back('/');
    out.append(target);
    out.append(" HTTP/1.1\r\n");
    if (!HasHeader(r.headers, "host")) {
      out.append("Host: ").append(authority).append("\r\n");
    }
    if (!HasHeader(r.headers, "user-agent")) {
      out.append("User-Agent: ").append(options_.user_agent).append("\r\n");
    }
    if (!HasHeader(r.headers, "accept")) out.append("Accept: */*\r\n");
    if (!r.basic_auth.empty()) {
      if (r.basic_auth != auth_plain_) {  // a provider's credentials rarely change
        auth_plain_ = r.basic_auth;
        auth_encoded_.clear();
        AppendBase64(r.basic_auth, auth_encoded_);
      }
      out.append("Authorization: Basic ").append(auth_encoded_).append("\r\n");
    }
    if (CarriesBody(r)) {
      if (r.method == Method::post && !HasHeader(r.headers, "content-type")) {
        out.append("Content-Type: application/x-www-form-urlencoded\r\n");
      }
      char digits[24];
      const auto end = std::to_chars(std::begin(digits), std::end(digits), r.body.size()).ptr;
      out.append("Content-Length: ").append(digits, end).append("\r\n");
    }
    for (const auto& h : r.headers) {
      // curl's convention: "Name:" with nothing after it removes a header.
      if (!h.empty() && h.back() == ':') continue;
      out.append(h).append("\r\n");
    }
    out.append("\r\n");
  }

  Host& HostFor(const Url& url) {
    const std::string name = AsciiLowercase(url.host);
    std::string key;
    key.reserve(name.size() + 16);
    key.append(url.tls ? "https://" : "http://").append(name).push_back(':');
    key.append(std::to_string(url.port));
    auto it = hosts_.find(key);
    if (it != hosts_.end()) return *it->second;
    auto host = std::make_unique<Host>();
    host->tls = url.tls;
    host->name = name;
    host->port = url.port;
    error_code ec;
    const auto address = asio::ip::make_address(name, ec);
    if (!ec) {
      host->literal = true;
      host->endpoints.emplace_back(address, url.port);
    }
    return *hosts_.emplace(std::move(key), std::move(host)).first->second;
  }

  // `fresh`: not on an idle connection (a retry after a stale one).
  void Dispatch(Host& host, std::unique_ptr<Exchange> ex, bool fresh = false) {
    while (!fresh && !host.idle.empty()) {
      const auto usable = std::find_if(host.idle.rbegin(), host.idle.rend(),
                                       [&](const auto& c) { return MayCarry(*c, *ex); });
      if (usable == host.idle.rend()) break;
      std::shared_ptr<Conn> c = std::move(*usable);
      host.idle.erase(std::next(usable).base());
      if (Clock::now() - c->idle_since >= options_.idle_check_after && !StillUsable(*c)) {
        Forget(c);
        continue;
      }
      Start(c, std::move(ex));
      return;
    }
    const auto per_host = static_cast<std::size_t>(std::max(1L, options_.max_connections_per_host));
    const auto total = static_cast<std::size_t>(std::max(1L, options_.max_total_connections));
    if (host.conns.size() < per_host && (open_total_ < total || CloseAnIdleConnection())) {
      Open(host, std::move(ex));
      return;
    }
    ArmTimer(ex->deadline);
    host.waiting.push_back(std::move(ex));
    ++waiting_total_;
  }

  static bool MayCarry(const Conn& c, const Exchange& ex) {
    return c.peer_allowed || !ex.request.untrusted_destination;
  }

  // At the total limit, a connection idling for another origin makes room.
  bool CloseAnIdleConnection() {
    for (auto& [key, h] : hosts_) {
      if (h->idle.empty()) continue;
      std::shared_ptr<Conn> c = std::move(h->idle.front());
      h->idle.erase(h->idle.begin());
      Drop(c);
      return true;
    }
    return false;
  }

  void Open(Host& host, std::unique_ptr<Exchange> ex) {
    auto c = std::make_shared<Conn>(io_);
    c->host = &host;
    if (host.tls) c->tls = std::make_unique<asio::ssl::stream<tcp::socket>>(io_, *tls_);
    c->deadline = std::min(ex->deadline, Clock::now() + ex->connect_timeout);
    c->ex = std::move(ex);
    host.conns.insert(c);
    ++open_total_;
    ArmTimer(c->deadline);
    if (host.literal || Clock::now() < host.resolved_until) {
      Connect(c);
      return;
    }
    resolver_.async_resolve(
        host.name, std::to_string(host.port),
        OnConn(c, [this, c](const error_code& ec, const tcp::resolver::results_type& results) {
          if (ec || results.empty()) {
            Fail(c, TransportError::dns, "Could not resolve host: " + c->host->name);
            return;
          }
          c->host->endpoints.clear();
          for (const auto& r : results) c->host->endpoints.push_back(r.endpoint());
          c->host->resolved_until = Clock::now() + kDnsCacheTtl;
          Connect(c);
        }));
  }

  void Connect(const std::shared_ptr<Conn>& c) {
    std::vector<tcp::endpoint> endpoints;
    if (c->ex->request.untrusted_destination) {
      // Checked here, after resolution, on the addresses about to be dialled:
      // the URL may spell an internal address any way getaddrinfo accepts,
      // or name a host that resolves to one.
      for (const auto& e : c->host->endpoints) {
        if (DestinationAllowed(e.address(), options_.destination_allowlist)) endpoints.push_back(e);
      }
      if (endpoints.empty()) {
        // Posted: for an IP literal, Connect runs inside Send. The message
        // names no address or port: the answer must not tell what listens where.
        asio::post(io_, OnConn(c, [this, c] {
                     Fail(c, TransportError::destination_not_allowed,
                          "Destination address not allowed");
                   }));
        return;
      }
    } else {
      endpoints = c->host->endpoints;
    }
    asio::async_connect(
        c->lowest(), endpoints, OnConn(c, [this, c](const error_code& ec, const tcp::endpoint& peer) {
          if (ec) {
            Fail(c, TransportError::connect,
                 "Failed to connect to " + c->host->name + " port " +
                     std::to_string(c->host->port) + ": " + ec.message());
            return;
          }
          c->peer_allowed = DestinationAllowed(peer.address(), options_.destination_allowlist);
          error_code ignored;
          c->lowest().set_option(tcp::no_delay(true), ignored);
          c->lowest().set_option(asio::socket_base::keep_alive(true), ignored);
          c->lowest().non_blocking(true, ignored);
          if (!c->tls) {
            Connected(c);
            return;
          }
          Handshake(c);
        }));
  }

  void Handshake(const std::shared_ptr<Conn>& c) {
    SSL* ssl = c->tls->native_handle();
    if (!c->host->literal) {
      // SSL_set_tlsext_host_name without the macro's C cast.
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(c->host->name.c_str()));  // NOLINT: OpenSSL does not write it
    }
    if (options_.tls_verify) {
      c->tls->set_verify_callback(asio::ssl::host_name_verification(c->host->name));
    }
    c->tls->async_handshake(
        asio::ssl::stream_base::client, OnConn(c, [this, c](const error_code& ec) {
          if (ec) {
            Fail(c, TransportError::tls, "TLS handshake with " + c->host->name + " failed: " +
                                             TlsMessage(*c, ec));
            return;
          }
          c->tls_buffer.resize(16 * 1024);
          Connected(c);
        }));
  }

  static std::string TlsMessage(Conn& c, const error_code& ec) {
    const long verify = SSL_get_verify_result(c.tls->native_handle());  // NOLINT(google-runtime-int)
    if (verify != X509_V_OK) return X509_verify_cert_error_string(verify);
    return ec.message();
  }

  void Connected(const std::shared_ptr<Conn>& c) {
    c->connected = true;
    std::unique_ptr<Exchange> ex = std::move(c->ex);
    Start(c, std::move(ex));
  }

  void Start(const std::shared_ptr<Conn>& c, std::unique_ptr<Exchange> ex) {
    c->ex = std::move(ex);
    c->deadline = c->ex->deadline;
    ArmTimer(c->deadline);
    c->got_bytes = false;
    c->wrote = false;
    c->reader.Begin(c->ex->response, options_.max_response_bytes);
    // A body goes out only with a method that carries one (as curl's GET
    // sends none); the head says how long it is.
    const std::size_t body_size = c->ex->with_body ? c->ex->request.body.size() : 0;
    const std::array<asio::const_buffer, 2> buffers{
        asio::buffer(c->ex->head), asio::buffer(c->ex->request.body.data(), body_size)};
    if (c->tls) {
      asio::async_write(*c->tls, buffers, OnConn(c, [this, c](const error_code& ec, std::size_t n) {
                          c->wrote = c->wrote || n > 0;
                          if (ec) return Broken(c, ec);
                          ReadTls(c);
                        }));
      return;
    }
    // Non-blocking: a request that fits the send buffer is written here.
    error_code ec;
    const std::size_t total = c->ex->head.size() + body_size;
    const std::size_t n = c->socket.write_some(buffers, ec);
    c->wrote = n > 0;
    if (ec && ec != asio::error::would_block) {
      // Handled from the io_context, not here: Start may run inside Send,
      // and a failure can end in the callback.
      asio::post(io_, OnConn(c, [this, c, ec] { Broken(c, ec); }));
      return;
    }
    if (n == total) return WaitReadable(c);
    const std::size_t from_head = std::min(n, c->ex->head.size());
    const std::array<asio::const_buffer, 2> rest{
        asio::buffer(c->ex->head) + from_head,
        asio::buffer(c->ex->request.body.data(), body_size) + (n - from_head)};
    asio::async_write(c->socket, rest, OnConn(c, [this, c](const error_code& wec, std::size_t m) {
                        c->wrote = c->wrote || m > 0;
                        if (wec) return Broken(c, wec);
                        WaitReadable(c);
                      }));
  }

  // Plain TCP: wait for readability, then read what is there. (async_read_some
  // would first try a read that, right after the request, finds nothing.)
  // The reactor is edge-triggered: a read that filled the buffer is repeated
  // until the socket is drained, or no further edge would come.
  void WaitReadable(const std::shared_ptr<Conn>& c) {
    c->socket.async_wait(tcp::socket::wait_read, OnConn(c, [this, c](const error_code& ec) {
                           if (ec) return Broken(c, ec);
                           ReadPlain(c);
                         }));
  }

  void ReadPlain(const std::shared_ptr<Conn>& c) {
    for (;;) {
      error_code ec;
      const std::size_t n = c->socket.read_some(asio::buffer(scratch_), ec);
      if (ec == asio::error::would_block) return WaitReadable(c);
      if (ec) return Broken(c, ec);
      if (!Feed(c, std::string_view(scratch_.data(), n))) return;
      if (n < scratch_.size()) return WaitReadable(c);
    }
  }

  void ReadTls(const std::shared_ptr<Conn>& c) {
    c->tls->async_read_some(
        asio::buffer(c->tls_buffer), OnConn(c, [this, c](const error_code& ec, std::size_t n) {
          if (ec) return Broken(c, ec);
          if (Feed(c, std::string_view(c->tls_buffer.data(), n))) ReadTls(c);
        }));
  }

  // Parses `data`; returns whether more of the answer is needed.
  bool Feed(const std::shared_ptr<Conn>& c, std::string_view data) {
    if (!c->ex) {
      // Bytes on a connection with nothing asked: the server is confused.
      Drop(c);
      return false;
    }
    c->got_bytes = true;
    const Http1ResponseReader::Outcome got = c->reader.Feed(data);
    switch (got.state) {
      case Http1ResponseReader::State::need_more: return true;
      case Http1ResponseReader::State::complete: Complete(c, got.keep_alive); return false;
      case Http1ResponseReader::State::too_large:
        Fail(c, TransportError::too_large, "Response exceeded the maximum allowed size");
        return false;
      case Http1ResponseReader::State::invalid:
        Fail(c, TransportError::connect, "Invalid HTTP response: " + got.error);
        return false;
    }
    return false;
  }

  // The server closed or reset the connection, or a write failed.
  void Broken(const std::shared_ptr<Conn>& c, const error_code& ec) {
    if (!c->ex) {
      Drop(c);
      return;
    }
    // A body delimited by the end of the connection has ended.
    if ((ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) &&
        c->reader.EndOfStream()) {
      Complete(c, false);
      return;
    }
    // A reused connection that dies before any answer byte most likely hit
    // the server's keep-alive timeout, and the request is worth one more try
    // on a new connection, but only when that cannot make the server act
    // twice: nothing of it was written, or it is a GET. A POST whose bytes
    // left may have been read and acted on before the reset; re-sending it
    // silently would send the message twice, so the caller gets a failure
    // and its retry policy (counted, with backoff) decides.
    const bool replay_safe = !c->wrote || c->ex->request.method == Method::get;
    if (c->reused && !c->got_bytes && !c->ex->retried && replay_safe) {
      std::unique_ptr<Exchange> ex = std::move(c->ex);
      ex->retried = true;
      Host& host = *c->host;
      const Clock::time_point idle_since = c->idle_since;
      Drop(c);
      // Connections idle at least as long as this one likely went the same
      // way; the retry takes a new connection.
      std::vector<std::shared_ptr<Conn>> older;
      for (const auto& other : host.idle) {
        if (other->idle_since <= idle_since) older.push_back(other);
      }
      for (const auto& other : older) Forget(other);
      Dispatch(host, std::move(ex), /*fresh=*/true);
      return;
    }
    if (c->reused && !c->got_bytes && !replay_safe) {
      Fail(c, TransportError::connect,
           "Connection closed after the request was sent, before any answer; not re-sent: the "
           "server may have acted on it");
      return;
    }
    Fail(c, TransportError::connect, ec == asio::error::eof
                                         ? std::string("Empty reply from server")
                                         : "Connection to " + c->host->name + " failed: " + ec.message());
  }

  void Complete(const std::shared_ptr<Conn>& c, bool keep_alive) {
    std::unique_ptr<Exchange> ex = std::move(c->ex);
    c->reused = true;
    Host& host = *c->host;
    if (keep_alive) {
      if (!host.waiting.empty() && !MayCarry(*c, *host.waiting.front())) {
        // The next one may not go to this peer: it gets this slot, and a
        // connection of its own, whose addresses are checked.
        Drop(c);
      } else if (!host.waiting.empty()) {
        Start(c, PopWaiting(host));
      } else if (WaitingForTotal() != nullptr) {
        // Another origin waits for a slot under the total limit: this
        // connection makes room for it (Drop hands the slot over).
        Drop(c);
      } else {
        c->idle_since = Clock::now();
        host.idle.push_back(c);
        ArmTimer(c->idle_since + options_.idle_timeout);
      }
    } else {
      Drop(c);
    }
    ++stats_.completed;
    Finish(std::move(ex));
  }

  // Ends the connection's exchange with an error and closes the connection.
  void Fail(const std::shared_ptr<Conn>& c, TransportError error, std::string message) {
    std::unique_ptr<Exchange> ex = std::move(c->ex);
    Drop(c);
    if (ex) FailExchange(std::move(ex), error, std::move(message));
  }

  void FailExchange(std::unique_ptr<Exchange> ex, TransportError error, std::string message) {
    ex->response.error = error;
    ex->response.error_message = std::move(message);
    ++stats_.transport_errors;
    ++stats_.completed;
    Finish(std::move(ex));
  }

  void Finish(std::unique_ptr<Exchange> ex) {
    --in_flight_;
    ex->response.elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ex->started);
    Transport::Callback done = std::move(ex->done);
    Response response = std::move(ex->response);
    ex.reset();
    done(std::move(response));
  }

  // For failures found inside Send: callbacks never run inside it.
  void FailLater(std::unique_ptr<Exchange> ex, TransportError error, std::string message) {
    ex->response.error = error;
    ex->response.error_message = std::move(message);
    ++stats_.transport_errors;
    ++stats_.completed;
    asio::post(io_, [alive = std::weak_ptr<bool>(alive_),
                     ex = std::shared_ptr<Exchange>(std::move(ex))] {
      if (auto a = alive.lock(); a && *a) ex->done(std::move(ex->response));
    });
  }

  // An origin with requests waiting that only the total limit holds back
  // (it is below its per-host limit), or nullptr.
  Host* WaitingForTotal() {
    if (waiting_total_ == 0) return nullptr;
    const auto per_host = static_cast<std::size_t>(std::max(1L, options_.max_connections_per_host));
    for (auto& [key, h] : hosts_) {
      if (!h->waiting.empty() && h->conns.size() < per_host) return h.get();
    }
    return nullptr;
  }

  std::unique_ptr<Exchange> PopWaiting(Host& host) {
    std::unique_ptr<Exchange> ex = std::move(host.waiting.front());
    host.waiting.pop_front();
    --waiting_total_;
    return ex;
  }

  // A connection idle for a while may have been closed by the server, or
  // have bytes on it nobody asked for (a 408 before the close): either way
  // it must not carry a request. One peek, only for connections idle longer
  // than idle_check_after (servers' keep-alive timeouts are seconds), so not
  // per request at load.
  static bool StillUsable(Conn& c) {
    char byte = 0;
    const ssize_t n = ::recv(c.lowest().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    // Bytes on a TLS connection may be a late session ticket: only its end counts.
    return n > 0 && c.tls != nullptr;
  }

  // Closes the connection and forgets it, leaving its slot unused.
  void Forget(const std::shared_ptr<Conn>& c) {
    if (c->closed) return;
    Close(*c);
    Host& host = *c->host;
    if (auto it = std::find(host.idle.begin(), host.idle.end(), c); it != host.idle.end()) {
      host.idle.erase(it);
    }
    host.conns.erase(c);
    --open_total_;
  }

  // Closes the connection and forgets it. A waiting exchange gets the slot:
  // one of the same origin first, else one of another origin that waits
  // because of the total limit.
  void Drop(const std::shared_ptr<Conn>& c) {
    if (c->closed) return;
    Forget(c);
    Host& host = *c->host;
    Host* next = host.waiting.empty() ? WaitingForTotal() : &host;
    if (next != nullptr) Dispatch(*next, PopWaiting(*next));
  }

  static void Close(Conn& c) {
    c.closed = true;
    error_code ignored;
    c.lowest().close(ignored);
  }

  // One timer for every deadline: armed for the earliest one it was told
  // about; when it fires, Sweep finds what expired and re-arms for the rest.
  void ArmTimer(Clock::time_point due) {
    if (due == Clock::time_point::max()) return;  // no deadline
    if (timer_armed_ && armed_for_ <= due) return;
    timer_armed_ = true;
    armed_for_ = due;
    timer_.expires_at(due);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const error_code& ec) {
      auto a = alive.lock();
      if (ec || !a || !*a) return;  // aborted: re-armed earlier, that wait owns the flag
      timer_armed_ = false;
      Sweep();
    });
  }

  void Sweep() {
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    const auto note = [&](Clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    std::vector<std::shared_ptr<Conn>> expired;
    std::vector<std::shared_ptr<Conn>> stale;
    std::vector<std::unique_ptr<Exchange>> late;
    for (auto& [key, host] : hosts_) {
      for (const auto& c : host->conns) {
        if (c->ex) {
          if (c->deadline <= now) {
            expired.push_back(c);
          } else {
            note(c->deadline);
          }
        } else if (c->idle_since + options_.idle_timeout <= now) {
          stale.push_back(c);
        } else {
          note(c->idle_since + options_.idle_timeout);
        }
      }
      for (auto it = host->waiting.begin(); it != host->waiting.end();) {
        if ((*it)->deadline <= now) {
          late.push_back(std::move(*it));
          it = host->waiting.erase(it);
          --waiting_total_;
        } else {
          note((*it)->deadline);
          ++it;
        }
      }
    }
    // Callbacks run last: they may send, which may add origins to hosts_.
    for (const auto& c : stale) Drop(c);
    for (const auto& c : expired) {
      if (!c->ex) continue;
      const bool connecting = !c->connected;
      std::string message = connecting && c->deadline < c->ex->deadline
                                ? "Connection timeout after " +
                                      std::to_string(c->ex->connect_timeout.count()) + " ms"
                                : TimeoutMessage(*c->ex, now);
      Fail(c, TransportError::timeout, std::move(message));
    }
    for (auto& ex : late) {
      std::string message = TimeoutMessage(*ex, now);
      FailExchange(std::move(ex), TransportError::timeout, std::move(message));
    }
    if (next) ArmTimer(*next);
  }

  static std::string TimeoutMessage(const Exchange& ex, Clock::time_point now) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - ex.started);
    return "Operation timed out after " + std::to_string(ms.count()) + " milliseconds";
  }

  asio::io_context& io_;
  TransportOptions options_;
  std::optional<asio::ssl::context> tls_;
  std::string tls_setup_error_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point armed_for_;
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  Host* last_host_ = nullptr;  // origin of the latest parsed URL ...
  std::string last_origin_;    // ... and that URL's "scheme://authority"
  std::string auth_plain_;     // the latest basic_auth ...
  std::string auth_encoded_;   // ... in Base64
  std::size_t open_total_ = 0;
  std::size_t waiting_total_ = 0;  // exchanges queued for a connection, all origins
  std::size_t in_flight_ = 0;
  TransportStats stats_;
  // Plain reads land here and are parsed before anything else can run.
  std::array<char, 64 * 1024> scratch_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

Http1Client::Http1Client(asio::io_context& io, const TransportOptions& options)
    : impl_(std::make_unique<Impl>(io, options)) {}
Http1Client::~Http1Client() = default;

bool Http1Client::TrySend(Request& request, Transport::Callback& done) {
  return impl_->TrySend(request, done);
}

std::size_t Http1Client::in_flight() const { return impl_->in_flight(); }
TransportStats Http1Client::stats() const { return impl_->stats(); }

}  // namespace omnigate::http::detail
