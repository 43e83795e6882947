#include "bench/mock_provider.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <simdjson.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cmath>
#include <ctime>
#include <iterator>
#include <thread>

#include "bench/mock_h2_connection.h"
#include "common/json.h"

namespace omnigate::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::NextRandom;
using detail::TlsStream;

namespace {

constexpr std::array<std::string_view, kMockApiCount> kApiNames = {"twilio", "sendgrid", "viber",
                                                                   "push", "generic"};

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

constexpr char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

std::string Base64(std::string_view in, bool url) {
  static constexpr char kStandard[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* alphabet = url ? kUrl : kStandard;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (!url) out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (!url) out += '=';
  }
  return out;
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool IsBase64Url(std::string_view s) {
  for (const char c : s) {
    if (!IsBase64UrlChar(c)) return false;
  }
  return !s.empty();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormDecode(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out += ' ';
    } else if (v[i] == '%' && i + 2 < v.size() && HexValue(v[i + 1]) >= 0 &&
               HexValue(v[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(v[i + 1]) * 16 + HexValue(v[i + 2]));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// The value of `name` in an x-www-form-urlencoded body, decoded; empty if absent.
std::string FormField(std::string_view body, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const std::size_t amp = std::min(body.find('&', pos), body.size());
    const std::string_view pair = body.substr(pos, amp - pos);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return FormDecode(pair.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return {};
}

void AppendJson(std::string& out, std::string_view s) { AppendJsonString(s, out); }

// One parser per I/O thread; its buffers are reused across requests.
simdjson::dom::parser& JsonParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

std::string TwilioError(int code, std::string_view message, int status) {
  std::string out = fmt::format(R"({{"code":{},"message":)", code);
  AppendJson(out, message);
  out += fmt::format(R"(,"more_info":"https://www.twilio.com/docs/errors/{}","status":{}}})", code,
                     status);
  return out;
}

// SendGrid's error envelope; an empty field or help is written as null.
std::string SendGridErrors(std::string_view message, std::string_view field = {},
                           std::string_view help = {}) {
  std::string out = R"({"errors":[{"message":)";
  AppendJson(out, message);
  out += R"(,"field":)";
  if (field.empty()) {
    out += "null";
  } else {
    AppendJson(out, field);
  }
  out += R"(,"help":)";
  if (help.empty()) {
    out += "null";
  } else {
    AppendJson(out, help);
  }
  out += "}]}";
  return out;
}

std::string ViberStatus(int status, std::string_view message) {
  return fmt::format(R"({{"status":{},"status_message":"{}"}})", status, message);
}

// The error body Mozilla's autopush sends; other push services send less.
std::string PushError(int status, int errno_value, std::string_view message) {
  std::string out = fmt::format(R"({{"code":{},"errno":{},"error":"{}","message":)", status,
                                errno_value, ReasonPhrase(status));
  AppendJson(out, message);
  out += '}';
  return out;
}

std::string GenericError(std::string_view error) {
  return fmt::format(R"({{"status":"error","error":"{}"}})", error);
}

// "vapid t=<jwt>, k=<key>" (RFC 8292 §3): checks the shape only. The JWT's
// signature, audience and expiry are NOT verified: the mock stands in for a
// push service under load, and the adapter's signing is tested against an
// independent implementation elsewhere.
bool LooksLikeVapid(std::string_view auth) {
  if (!IStartsWith(auth, "vapid ")) return false;
  std::string_view params = auth.substr(6);
  std::string_view t;
  std::string_view k;
  while (!params.empty()) {
    const auto comma = params.find(',');
    std::string_view p = params.substr(0, comma);
    params = comma == std::string_view::npos ? std::string_view() : params.substr(comma + 1);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (p.starts_with("t=")) t = p.substr(2);
    if (p.starts_with("k=")) k = p.substr(2);
  }
  // A compact JWS: three base64url parts.
  const auto dot1 = t.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : t.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || !IsBase64Url(t.substr(0, dot1)) ||
      !IsBase64Url(t.substr(dot1 + 1, dot2 - dot1 - 1)) || !IsBase64Url(t.substr(dot2 + 1))) {
    return false;
  }
  // The 65-byte uncompressed P-256 point: 87 characters, 88 when padded.
  if (k.size() == 88 && k.back() == '=') k.remove_suffix(1);
  return k.size() == 87 && IsBase64Url(k);
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// ALPN (RFC 7301) on the server side: h2 when offered and enabled, else
// http/1.1; a client offering neither gets no ALPN answer and HTTP/1.1.
int SelectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  static constexpr unsigned char kBoth[] = "\x02h2\x08http/1.1";
  static constexpr unsigned char kHttp1[] = "\x08http/1.1";
  const bool h2 = *static_cast<const bool*>(arg);
  const unsigned char* ours = h2 ? kBoth : kHttp1;
  const unsigned int ours_len = h2 ? sizeof kBoth - 1 : sizeof kHttp1 - 1;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, ours_len, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

double Unit(std::uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

}  // namespace

std::string_view ToString(MockApi api) { return kApiNames[static_cast<std::size_t>(api)]; }

std::optional<MockApi> MockApiFromString(std::string_view name) {
  for (std::size_t i = 0; i < kApiNames.size(); ++i) {
    if (kApiNames[i] == name) return static_cast<MockApi>(i);
  }
  return std::nullopt;
}

std::string_view MockProvider::Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return {};
}

// Threads, io_contexts and the acceptor.
class MockProvider::Impl {
 public:
  // One HTTP/1.1 keep-alive connection, plain (tcp::socket) or over TLS
  // (TlsStream, handshake done): parse, answer (maybe after a delay), repeat.
  template <typename Stream>
  class Connection : public std::enable_shared_from_this<Connection<Stream>> {
   public:
    Connection(MockProvider* owner, Stream socket, std::uint64_t seed)
        : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()), rng_(seed) {
      buffer_.reserve(8192);
      headers_.reserve(16);
    }

    void Start() { ReadMore(); }

   private:
    static constexpr std::size_t kMaxHeaders = 64;

    void ReadMore() {
      const std::size_t old = buffer_.size();
      buffer_.resize(old + 16384);
      socket_.async_read_some(asio::buffer(buffer_.data() + old, 16384),
                              [self = this->shared_from_this(), old](
                                  const boost::system::error_code& ec, std::size_t n) {
                                self->buffer_.resize(old + n);
                                if (ec) return;
                                self->Parse();
                              });
    }

    // Handles the first complete request in the buffer, or reads more.
    void Parse() {
      const std::string_view data(buffer_.data(), buffer_.size());
      const auto end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (data.size() > (1 << 20)) return;  // absurd header: drop the connection
        ReadMore();
        return;
      }
      const std::string_view head = data.substr(0, end);
      const auto line_end = head.find("\r\n");
      const std::string_view request_line = head.substr(0, line_end);
      const auto sp1 = request_line.find(' ');
      const auto sp2 = request_line.find(' ', sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return;
      Request request;
      request.method = request_line.substr(0, sp1);
      request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t content_length = 0;
      close_after_ = request_line.substr(sp2 + 1) == "HTTP/1.0";
      headers_.clear();
      std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = head.size();
        const std::string_view h = head.substr(pos, eol - pos);
        pos = eol + 2;
        const auto colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = h.substr(0, colon);
        std::string_view value = h.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
          value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
          value.remove_suffix(1);
        }
        if (IEquals(name, "content-length")) {
          std::from_chars(value.data(), value.data() + value.size(), content_length);
        } else if (IEquals(name, "connection")) {
          close_after_ = IEquals(value, "close");
        }
        if (headers_.size() < kMaxHeaders) headers_.push_back({name, value});
      }
      const std::size_t total = end + 4 + content_length;
      if (data.size() < total) {
        ReadMore();
        return;
      }
      request.headers = headers_;
      request.body = data.substr(end + 4, content_length);
      const Reply reply = owner_->Handle(request, NextRandom(rng_));
      consumed_ = total;
      out_.clear();
      fmt::format_to(std::back_inserter(out_), "HTTP/1.1 {} {}\r\n", reply.status,
                     ReasonPhrase(reply.status));
      if (!reply.content_type.empty()) {
        fmt::format_to(std::back_inserter(out_), "Content-Type: {}\r\n", reply.content_type);
      }
      fmt::format_to(std::back_inserter(out_), "Content-Length: {}\r\n{}{}\r\n", reply.body.size(),
                     reply.extra_headers, close_after_ ? "Connection: close\r\n" : "");
      out_ += reply.body;
      if (reply.delay.count() > 0) {
        timer_.expires_after(reply.delay);
        timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
          if (!ec) self->Write();
        });
      } else {
        Write();
      }
    }

    void Write() {
      asio::async_write(socket_, asio::buffer(out_),
                        [self = this->shared_from_this()](const boost::system::error_code& ec,
                                                          std::size_t) {
                          if (ec) return;
                          if (self->close_after_) {
                            boost::system::error_code ignored;
                            self->socket_.lowest_layer().shutdown(tcp::socket::shutdown_both,
                                                                  ignored);
                            return;
                          }
                          self->buffer_.erase(self->buffer_.begin(),
                                              self->buffer_.begin() +
                                                  static_cast<std::ptrdiff_t>(self->consumed_));
                          self->Parse();
                        });
    }

    MockProvider* owner_;
    Stream socket_;
    asio::steady_timer timer_;
    std::uint64_t rng_;
    std::vector<char> buffer_;
    std::vector<Header> headers_;  // views into buffer_, for the request being handled
    std::string out_;
    std::size_t consumed_ = 0;
    bool close_after_ = false;
  };

  explicit Impl(int thread_count) {
    for (int i = 0; i < std::max(1, thread_count); ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  void Accept(MockProvider* owner) {
    acceptor->async_accept(*ios[next_io % ios.size()], [this, owner](
                                                             const boost::system::error_code& ec,
                                                             tcp::socket socket) {
      if (ec) return;  // closed by Stop()
      ++next_io;
      owner->connections_.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const std::uint64_t seed = owner->options_.seed * 1000003u + next_io;
      if (tls) {
        Handshake(owner, std::move(socket), seed);
      } else {
        std::make_shared<Connection<tcp::socket>>(owner, std::move(socket), seed)->Start();
      }
      Accept(owner);
    });
  }

  // TLS first, then HTTP/2 or HTTP/1.1 as ALPN chose.
  void Handshake(MockProvider* owner, tcp::socket socket, std::uint64_t seed) {
    auto stream = std::make_shared<TlsStream>(std::move(socket), *tls);
    stream->async_handshake(
        asio::ssl::stream_base::server, [owner, stream, seed](const boost::system::error_code& ec) {
          if (ec) {
            owner->tls_handshake_failures_.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          const unsigned char* alpn = nullptr;
          unsigned int alpn_len = 0;
          SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_len);
          if (alpn_len == 2 && alpn[0] == 'h' && alpn[1] == '2') {
            owner->h2_connections_.fetch_add(1, std::memory_order_relaxed);
            detail::ServeH2(*owner, std::move(*stream), seed);
          } else {
            std::make_shared<Connection<TlsStream>>(owner, std::move(*stream), seed)->Start();
          }
        });
  }

  // Declared first, destroyed last: connections still queued in the
  // io_contexts when they go hold SSL objects made from it.
  std::optional<asio::ssl::context> tls;  // set when the listener speaks HTTPS
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::size_t next_io = 0;
};

MockProvider::MockProvider(Options options)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_.threads)),
      expected_auth_("Basic " + Base64(options_.account_sid + ":" + options_.auth_token, false)),
      expected_sendgrid_auth_("Bearer " + options_.sendgrid_api_key) {
  receipts_ = std::make_unique<ReceiptSender>(
      ReceiptSender::Keys{.twilio_account_sid = options_.account_sid,
                          .twilio_auth_token = options_.auth_token,
                          .viber_auth_token = options_.viber_auth_token,
                          .generic_secret = options_.generic_webhook_secret,
                          .sendgrid_private_key = options_.sendgrid_webhook_private_key},
      options_.seed);
  receipts_->Configure(options_.receipts);
  latency_ms_by_api_.fill(-1);
  for (const auto& [name, ms] : options_.latency_ms_by_api) {
    if (const auto api = MockApiFromString(name)) {
      latency_ms_by_api_[static_cast<std::size_t>(*api)] = std::max(0, ms);
    }
  }
}

MockProvider::~MockProvider() { Stop(); }

void MockProvider::UpdateReceiptsOn() {
  const auto s = receipts_->settings();
  bool on = false;
  for (const auto& url : s.url) on = on || !url.empty();
  receipts_on_.store(on, std::memory_order_relaxed);
}

std::string_view MockProvider::RoutesSummary() {
  return "POST /2010-04-01/Accounts/{sid}/Messages.json (twilio), POST /v3/mail/send (sendgrid), "
         "POST /pa/send_message (viber), POST /push/{subscription} (push), POST /generic/send "
         "(generic), GET /_mock/stats, GET|POST /_mock/receipts, GET /healthz";
}

std::uint16_t MockProvider::Start() {
  if (std::string error = receipts_->Start(); !error.empty()) {
    last_error_ = std::move(error);
    return 0;
  }
  UpdateReceiptsOn();
  for (const auto& [name, ms] : options_.latency_ms_by_api) {
    if (!MockApiFromString(name)) {
      last_error_ = "unknown API '" + name +
                    "' in latency_ms_by_api; known: twilio, sendgrid, viber, push, generic";
      return 0;
    }
  }
  if (!options_.record_path.empty()) {
    record_ = std::fopen(options_.record_path.c_str(), "a");
    if (record_ == nullptr) {
      last_error_ = "cannot open record file '" + options_.record_path + "'";
      return 0;
    }
  }
  boost::system::error_code ec;
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    last_error_ = "tls_cert_file and tls_key_file go together: give both for HTTPS, or neither";
    return 0;
  }
  if (tls()) {
    auto& ctx = impl_->tls.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      last_error_ = "cannot load the certificate '" + options_.tls_cert_file + "': " + ec.message();
      return 0;
    }
    ctx.use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      last_error_ = "cannot load the private key '" + options_.tls_key_file + "': " + ec.message();
      return 0;
    }
    SSL_CTX_set_alpn_select_cb(ctx.native_handle(), &SelectAlpn, &options_.http2);
  }
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    last_error_ = "bad host '" + options_.host + "': " + ec.message();
    return 0;
  }
  auto& acc = impl_->acceptor.emplace(*impl_->ios[0]);
  const tcp::endpoint ep(address, options_.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    last_error_ = fmt::format("listen on {}:{}: {}", options_.host, options_.port, ec.message());
    return 0;
  }
  port_ = acc.local_endpoint().port();
  impl_->Accept(this);
  for (auto& io : impl_->ios) {
    impl_->guards.push_back(asio::make_work_guard(*io));
    impl_->threads.emplace_back([io = io.get()] { io->run(); });
  }
  return port_;
}

void MockProvider::Stop() {
  receipts_->Stop();
  if (impl_->threads.empty()) return;
  for (auto& io : impl_->ios) io->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->guards.clear();
  impl_->acceptor.reset();
  std::lock_guard lock(mu_);
  if (record_ != nullptr) {
    std::fclose(record_);
    record_ = nullptr;
  }
}

MockProvider::Reply MockProvider::Handle(const Request& request, std::uint64_t random) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  constexpr std::string_view kTwilioPrefix = "/2010-04-01/Accounts/";
  constexpr std::string_view kTwilioSuffix = "/Messages.json";
  constexpr std::string_view kPushPrefix = "/push/";
  const std::string_view method = request.method;
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  Reply reply;
  std::optional<MockApi> api;
  if (method == "GET" && target == "/healthz") {
    reply.body = R"({"ok":true})";
  } else if (method == "GET" && target == "/_mock/stats") {
    reply.body = StatsJson();
  } else if (target == "/_mock/receipts" && (method == "GET" || method == "POST")) {
    if (method == "POST") {
      if (const std::string error = receipts_->ConfigureJson(request.body); !error.empty()) {
        reply.status = 400;
        reply.body = R"({"error":)";
        AppendJson(reply.body, error);
        reply.body += '}';
        return reply;
      }
      UpdateReceiptsOn();
    }
    reply.body = receipts_->StatsJson();
  } else if (target.starts_with(kTwilioPrefix) &&
             target.size() > kTwilioPrefix.size() + kTwilioSuffix.size() &&
             target.ends_with(kTwilioSuffix)) {
    api = MockApi::twilio;
    const std::string_view sid = target.substr(
        kTwilioPrefix.size(), target.size() - kTwilioPrefix.size() - kTwilioSuffix.size());
    if (method != "POST") {
      reply.status = 405;
      reply.body = TwilioError(20004, "Method not allowed", 405);
    } else {
      reply = Twilio(sid, request, random);
    }
  } else if (path == "/v3/mail/send") {
    api = MockApi::sendgrid;
    if (method != "POST") {
      reply.status = 405;
      reply.body = SendGridErrors("Method Not Allowed");
    } else {
      reply = SendGrid(request, random);
    }
  } else if (path == "/pa/send_message") {
    api = MockApi::viber;
    if (method != "POST") {
      reply.status = 405;
      reply.body = ViberStatus(3, "badData");
    } else {
      reply = Viber(request, random);
    }
  } else if (path.starts_with(kPushPrefix) && path.size() > kPushPrefix.size()) {
    api = MockApi::push;
    if (method != "POST") {
      reply.status = 405;
      reply.body = PushError(405, 999, "Method not allowed");
    } else {
      reply = Push(path.substr(kPushPrefix.size()), request, random);
    }
  } else if (path == "/generic/send") {
    api = MockApi::generic;
    // GET too: many aggregators (and Kannel's generic HTTP SMSC) put the
    // message in the query string.
    if (method != "POST" && method != "PUT" && method != "GET") {
      reply.status = 405;
      reply.body = GenericError("method_not_allowed");
    } else {
      reply = Generic(request, random);
    }
  } else {
    reply.status = 404;
    reply.body = TwilioError(20404, "The requested resource was not found", 404);
  }
  if (api) {
    api_counts_[static_cast<std::size_t>(*api)].fetch_add(1, std::memory_order_relaxed);
    if (reply.status != 405) reply.delay = Delay(*api, random);
  }
  if (reply.status >= 0 && reply.status < static_cast<int>(status_counts_.size())) {
    status_counts_[static_cast<std::size_t>(reply.status)].fetch_add(1, std::memory_order_relaxed);
  }
  return reply;
}

MockProvider::Outcome MockProvider::Draw(std::uint64_t random) const {
  const double u = Unit(random);
  double edge = options_.invalid_number_rate;
  if (u < edge) return Outcome::invalid;
  edge += options_.gone_rate;
  if (u < edge) return Outcome::gone;
  edge += options_.throttle_rate;
  if (u < edge) return Outcome::throttle;
  edge += options_.error_rate;
  if (u < edge) return Outcome::error;
  return Outcome::ok;
}

std::chrono::microseconds MockProvider::Delay(MockApi api, std::uint64_t random) const {
  int base_ms = latency_ms_by_api_[static_cast<std::size_t>(api)];
  if (base_ms < 0) base_ms = options_.latency_ms;
  std::chrono::microseconds delay = std::chrono::milliseconds(base_ms);
  if (options_.latency_distribution == LatencyDistribution::exponential && base_ms > 0) {
    // A second draw, independent of the outcome and jitter bits of `random`.
    std::uint64_t state = random ^ 0x5851f42d4c957f2dULL;
    const double u = Unit(NextRandom(state));
    delay = std::chrono::microseconds(std::llround(-std::log1p(-u) * base_ms * 1000.0));
  }
  if (options_.jitter_ms > 0) {
    delay +=
        std::chrono::milliseconds((random >> 40) % static_cast<unsigned>(options_.jitter_ms + 1));
  }
  return delay;
}

MockProvider::Reply MockProvider::Twilio(std::string_view sid, const Request& request,
                                         std::uint64_t random) {
  Reply reply;
  if (sid != options_.account_sid || request.header("authorization") != expected_auth_) {
    reply.status = 401;
    reply.body = TwilioError(20003, "Authenticate", 401);
    return reply;
  }
  const std::string_view body = request.body;
  ReceivedMessage m;
  m.api = ToString(MockApi::twilio);
  m.to = FormField(body, "To");
  m.body = FormField(body, "Body");
  const std::string from = FormField(body, "From");
  const std::string service = FormField(body, "MessagingServiceSid");
  const std::string callback = FormField(body, "StatusCallback");
  if (m.to.empty()) {
    reply.status = 400;
    reply.body = TwilioError(21604, "A 'To' phone number is required.", 400);
  } else if (m.body.empty()) {
    reply.status = 400;
    reply.body = TwilioError(21602, "Message body is required.", 400);
  } else if (from.empty() && service.empty()) {
    reply.status = 400;
    reply.body =
        TwilioError(21603, "A 'From' or 'MessagingServiceSid' parameter is required.", 400);
  } else {
    switch (Draw(random)) {
      case Outcome::invalid:
      case Outcome::gone:
        reply.status = 400;
        reply.body =
            TwilioError(21211, "The 'To' number " + m.to + " is not a valid phone number.", 400);
        break;
      case Outcome::throttle:
        reply.status = 429;
        reply.extra_headers = fmt::format("Retry-After: {}\r\n", options_.retry_after_s);
        reply.body = TwilioError(20429, "Too Many Requests", 429);
        break;
      case Outcome::error:
        reply.status = 500;
        reply.body = TwilioError(20500, "Internal Server Error", 500);
        break;
      case Outcome::ok: {
        reply.status = 201;
        m.id = fmt::format("SM{:016x}{:016x}", options_.seed, NextId());
        std::string& out = reply.body;
        out.reserve(256 + m.body.size());
        out += R"({"sid":")" + m.id + R"(","status":"queued","to":)";
        AppendJson(out, m.to);
        out += R"(,"from":)";
        AppendJson(out, from);
        out += R"(,"messaging_service_sid":)";
        if (service.empty()) {
          out += "null";
        } else {
          AppendJson(out, service);
        }
        out += R"(,"body":)";
        AppendJson(out, m.body);
        out += fmt::format(R"(,"num_segments":"1","direction":"outbound-api","account_sid":"{}",)"
                           R"("uri":"/2010-04-01/Accounts/{}/Messages/{}.json"}})",
                           options_.account_sid, options_.account_sid, m.id);
        break;
      }
    }
  }
  m.status = reply.status;
  if (recording()) OnMessage(m, from.empty() ? service : from, callback, random);
  return reply;
}

MockProvider::Reply MockProvider::SendGrid(const Request& request, std::uint64_t random) {
  constexpr std::string_view kHelp =
      "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";
  Reply reply;
  reply.status = 400;
  if (request.header("authorization") != expected_sendgrid_auth_) {
    reply.status = 401;
    reply.body = SendGridErrors("The provided authorization grant is invalid, expired, or revoked");
    return reply;
  }
  simdjson::dom::element doc;
  if (JsonParser().parse(request.body.data(), request.body.size()).get(doc) != simdjson::SUCCESS) {
    reply.body = SendGridErrors("Bad Request");
    return reply;
  }
  simdjson::dom::array personalizations;
  if (doc["personalizations"].get(personalizations) != simdjson::SUCCESS ||
      personalizations.size() == 0) {
    reply.body = SendGridErrors(
        "The personalizations field is required and must have at least one personalization.",
        "personalizations", fmt::format("{}#-Personalizations-Errors", kHelp));
    return reply;
  }
  std::string_view to;
  if (doc.at_pointer("/personalizations/0/to/0/email").get(to) != simdjson::SUCCESS) {
    reply.body = SendGridErrors(
        "The to array is required for all personalization objects, and must have at least one "
        "email object with a valid email address.",
        "personalizations.0.to", fmt::format("{}#message.personalizations.to", kHelp));
    return reply;
  }
  std::string_view from;
  if (doc.at_pointer("/from/email").get(from) != simdjson::SUCCESS) {
    reply.body = SendGridErrors(
        "The from object must be provided for every email send. It is an object that requires "
        "the email parameter, but may also contain a name parameter.",
        "from", fmt::format("{}#message.from", kHelp));
    return reply;
  }
  ReceivedMessage m;
  Outcome outcome = Draw(random);
  if (to.find('@') == std::string_view::npos) outcome = Outcome::invalid;
  switch (outcome) {
    case Outcome::invalid:
    case Outcome::gone:
      reply.body =
          SendGridErrors("Does not contain a valid address.", "personalizations.0.to.0.email",
                         fmt::format("{}#message.personalizations.to", kHelp));
      break;
    case Outcome::throttle:
      reply.status = 429;
      reply.extra_headers = fmt::format(
          "X-RateLimit-Limit: 600\r\nX-RateLimit-Remaining: 0\r\n"
          "X-RateLimit-Reset: {}\r\nRetry-After: {}\r\n",
          std::time(nullptr) + options_.retry_after_s, options_.retry_after_s);
      reply.body = R"({"errors":[{"field":null,"message":"too many requests"}]})";
      break;
    case Outcome::error:
      reply.status = 500;
      reply.body = R"({"errors":[{"field":null,"message":"internal error"}]})";
      break;
    case Outcome::ok:
      reply.status = 202;
      reply.content_type = {};
      m.id = fmt::format("{:08x}{:014x}", options_.seed & 0xffffffffu, NextId());
      reply.extra_headers = "X-Message-Id: " + m.id + "\r\n";
      break;
  }
  if (recording()) {
    m.api = ToString(MockApi::sendgrid);
    m.to = to;  // copied before the parser is used again
    m.body = request.body;
    m.status = reply.status;
    OnMessage(m, from, {}, random);
  }
  return reply;
}

MockProvider::Reply MockProvider::Viber(const Request& request, std::uint64_t random) {
  Reply reply;  // Viber answers HTTP 200 for everything but server failures
  if (request.header("x-viber-auth-token") != options_.viber_auth_token) {
    reply.body = ViberStatus(2, "invalidAuthToken");
    return reply;
  }
  simdjson::dom::element doc;
  if (JsonParser().parse(request.body.data(), request.body.size()).get(doc) != simdjson::SUCCESS) {
    reply.body = ViberStatus(3, "badData");
    return reply;
  }
  std::string_view receiver;
  if (doc["receiver"].get(receiver) != simdjson::SUCCESS || receiver.empty()) {
    reply.body = ViberStatus(4, "missingData");
    return reply;
  }
  ReceivedMessage m;
  switch (Draw(random)) {
    case Outcome::invalid:
    case Outcome::gone:
      reply.body = ViberStatus(6, "receiverNotSubscribed");
      break;
    case Outcome::throttle:
      reply.body = ViberStatus(12, "tooManyRequests");
      break;
    case Outcome::error:
      reply.status = 500;
      reply.content_type = "text/plain";
      reply.body = "Internal Server Error";
      break;
    case Outcome::ok: {
      const std::uint64_t token =
          5'000'000'000'000'000'000ULL + (options_.seed % 1000) * 1'000'000'000'000ULL + NextId();
      m.id = std::to_string(token);
      reply.body = R"({"status":0,"status_message":"ok","message_token":)" + m.id +
                   R"(,"chat_hostname":"SN-CHAT-01_"})";
      break;
    }
  }
  if (recording()) {
    m.api = ToString(MockApi::viber);
    m.to = receiver;
    m.body = request.body;
    m.status = reply.status;
    OnMessage(m, {}, {}, random);
  }
  return reply;
}

MockProvider::Reply MockProvider::Push(std::string_view subscription, const Request& request,
                                       std::uint64_t random) {
  const std::string_view auth = request.header("authorization");
  const std::string_view encoding = request.header("content-encoding");
  const std::string_view ttl = request.header("ttl");
  const std::string_view urgency = request.header("urgency");
  const std::string_view topic = request.header("topic");
  const std::string_view body = request.body;
  auto reject = [](int status, int errno_value, std::string_view message) {
    Reply r;
    r.status = status;
    r.body = PushError(status, errno_value, message);
    return r;
  };
  if (auth.empty()) return reject(401, 109, "Missing Authorization header (VAPID required)");
  if (!LooksLikeVapid(auth)) {
    return reject(401, 109, "Authorization must be 'vapid t=<jwt>, k=<key>'");
  }
  if (encoding.empty()) return reject(400, 101, "Missing Content-Encoding header");
  if (!IEquals(encoding, "aes128gcm")) {
    return reject(400, 110, "Unsupported Content-Encoding; expected aes128gcm");
  }
  if (ttl.empty()) return reject(400, 111, "Missing TTL header");
  if (!AllDigits(ttl)) return reject(400, 112, "Invalid TTL header");
  if (!urgency.empty() && urgency != "very-low" && urgency != "low" && urgency != "normal" &&
      urgency != "high") {
    return reject(400, 999, "Invalid Urgency header");
  }
  if (!topic.empty() && (topic.size() > 32 || !IsBase64Url(topic))) {
    return reject(400, 999, "Invalid Topic header");
  }
  if (body.size() > 4096) return reject(413, 104, "Payload too large; the limit is 4096 bytes");
  // salt(16) rs(4) idlen(1) keyid(65), then at least one record: delimiter + tag.
  if (body.size() < 86 + 17) return reject(400, 110, "Body too short for an aes128gcm record");
  if (static_cast<unsigned char>(body[20]) != 65) {
    return reject(400, 110, "aes128gcm keyid must be a 65-byte P-256 public key");
  }

  Reply reply;
  ReceivedMessage m;
  switch (Draw(random)) {
    case Outcome::invalid:
      reply.status = 404;
      reply.body = PushError(404, 102, "Subscription not found");
      break;
    case Outcome::gone:
      reply.status = 410;
      reply.body = PushError(410, 106, "Subscription expired or unsubscribed");
      break;
    case Outcome::throttle:
      reply.status = 429;
      reply.extra_headers = fmt::format("Retry-After: {}\r\n", options_.retry_after_s);
      reply.body = PushError(429, 999, "Too many requests");
      break;
    case Outcome::error:
      reply.status = 500;
      reply.body = PushError(500, 999, "Internal server error");
      break;
    case Outcome::ok:
      reply.status = 201;
      reply.content_type = {};
      m.id = fmt::format("/push-message/{:x}-{:x}", options_.seed, NextId());
      reply.extra_headers = fmt::format("Location: {}\r\nTTL: {}\r\n", m.id, ttl);
      break;
  }
  if (recording()) {
    m.api = ToString(MockApi::push);
    m.to = subscription;
    m.body = Base64(body, true);
    m.status = reply.status;
    OnMessage(m, {}, {}, random);
  }
  return reply;
}

MockProvider::Reply MockProvider::Generic(const Request& request, std::uint64_t random) {
  Reply reply;
  ReceivedMessage m;
  switch (Draw(random)) {
    case Outcome::invalid:
    case Outcome::gone:
      reply.status = 400;
      reply.body = GenericError("invalid_number");
      break;
    case Outcome::throttle:
      reply.status = 429;
      reply.extra_headers = fmt::format("Retry-After: {}\r\n", options_.retry_after_s);
      reply.body = GenericError("throttled");
      break;
    case Outcome::error:
      reply.status = 500;
      reply.body = GenericError("internal");
      break;
    case Outcome::ok:
      reply.status = 200;
      m.id = fmt::format("gen-{}", NextId());
      reply.body = R"({"status":"ok","message_id":")" + m.id + R"("})";
      break;
  }
  if (recording()) {
    // The recipient only matters to the record: found in a JSON object's
    // "to", or a form body's to=, else left empty.
    const std::string_view body = request.body;
    const auto first = body.find_first_not_of(" \t\r\n");
    simdjson::dom::element doc;
    std::string_view to;
    if (first != std::string_view::npos && body[first] == '{' &&
        JsonParser().parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS &&
        doc["to"].get(to) == simdjson::SUCCESS) {
      m.to = to;
    } else if (IStartsWith(request.header("content-type"), "application/x-www-form-urlencoded")) {
      m.to = FormField(body, "to");
    } else if (const auto q = request.target.find('?'); q != std::string_view::npos) {
      m.to = FormField(request.target.substr(q + 1), "to");
    }
    m.api = ToString(MockApi::generic);
    m.body = body.empty() ? request.target : body;
    m.status = reply.status;
    OnMessage(m, {}, {}, random);
  }
  return reply;
}

void MockProvider::OnMessage(const ReceivedMessage& m, std::string_view from,
                             std::string_view callback, std::uint64_t random) {
  if (!m.id.empty() && receipts_on_.load(std::memory_order_relaxed) && m.api != "push") {
    const auto api = m.api == "twilio"     ? ReceiptSender::Api::twilio
                     : m.api == "sendgrid" ? ReceiptSender::Api::sendgrid
                     : m.api == "viber"    ? ReceiptSender::Api::viber
                                           : ReceiptSender::Api::generic;
    receipts_->Schedule(api, m.id, m.to, callback, random);
  }
  std::string line;
  if (record_ != nullptr) {
    line.reserve(128 + m.to.size() + m.body.size());
    line = R"({"api":")" + m.api + R"(","status":)" + std::to_string(m.status) + R"(,"id":)";
    AppendJson(line, m.id);
    line += R"(,"to":)";
    AppendJson(line, m.to);
    line += R"(,"from":)";
    AppendJson(line, from);
    line += R"(,"status_callback":)";
    AppendJson(line, callback);
    line += R"(,"body":)";
    AppendJson(line, m.body);
    // When it arrived (epoch ms): tests measure a scheduled send's lateness.
    line += R"(,"ts_ms":)" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
    line += "}\n";
  }
  std::lock_guard lock(mu_);
  if (options_.keep_in_memory) received_.push_back(m);
  if (record_ != nullptr) {
    std::fwrite(line.data(), 1, line.size(), record_);
    std::fflush(record_);
  }
}

std::map<int, std::uint64_t> MockProvider::status_counts() const {
  std::map<int, std::uint64_t> out;
  for (std::size_t i = 0; i < status_counts_.size(); ++i) {
    const auto v = status_counts_[i].load(std::memory_order_relaxed);
    if (v != 0) out[static_cast<int>(i)] = v;
  }
  return out;
}

std::vector<MockProvider::ReceivedMessage> MockProvider::Received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::string MockProvider::StatsJson() const {
  std::string out =
      fmt::format(R"({{"requests":{},"connections":{},"status":{{)", requests(), connections());
  bool first = true;
  for (const auto& [status, n] : status_counts()) {
    out += fmt::format(R"({}"{}":{})", first ? "" : ",", status, n);
    first = false;
  }
  out += R"(},"apis":{)";
  for (std::size_t i = 0; i < kMockApiCount; ++i) {
    out += fmt::format(R"({}"{}":{})", i == 0 ? "" : ",", kApiNames[i],
                       api_counts_[i].load(std::memory_order_relaxed));
  }
  out += R"(},"receipts":)";
  out += receipts_->StatsJson();
  out += '}';
  return out;
}

}  // namespace omnigate::bench
