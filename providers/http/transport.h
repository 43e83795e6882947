#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/http/address_policy.h"

namespace boost::asio {
class io_context;
}

namespace omnigate::http {

namespace detail {
class Http1Client;
}

enum class Method : std::uint8_t { get, post, put, del };

// Turns a Request into an SMTP submission: `url` is smtp://host:port or
// smtps://host:port, `body` is the message (RFC 5322, CRLF, not dot-stuffed),
// `basic_auth` ("user:password") the AUTH credentials. `method` and `headers`
// are ignored. Response::status is the server's last reply code and
// Response::body the text of that reply.
struct SmtpEnvelope {
  std::string mail_from;             // bare address
  std::vector<std::string> rcpt_to;  // bare addresses
  // STARTTLS must succeed on smtp:// (smtps:// is TLS from the start anyway).
  bool require_tls = true;
};

struct Request {
  Method method = Method::post;
  std::string url;
  // Complete header lines, "Name: value".
  std::vector<std::string> headers;
  std::string body;
  // "user:password" for HTTP basic auth; empty for none.
  std::string basic_auth;
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{3'000};
  std::optional<SmtpEnvelope> smtp;
  // The URL (its host, at least) came from a request, not from the operator:
  // a web push endpoint, a generic provider URL with a request field in its
  // authority. Such a request connects only to public addresses or to the
  // transport's destination_allowlist, checked on every resolved address
  // right before connecting and on every reused connection, and never
  // follows redirects. Fixed provider URLs stay unchecked: an operator may
  // point Twilio at an internal proxy.
  bool untrusted_destination = false;
};

// Why no HTTP status is available. `none` means the exchange completed and
// `status` holds the server's answer, whatever it was (for SMTP, also a
// refusal that ended the session early, e.g. 535 or 550).
enum class TransportError : std::uint8_t {
  none,
  timeout,     // connect or total timeout
  connect,     // refused, unreachable, reset before a response
  dns,         // name resolution failed
  tls,         // handshake or certificate verification failed
  too_large,   // response exceeded max_response_bytes
  // An untrusted_destination request resolved only to addresses it may not
  // reach. Nothing was connected, so nothing (open port or not) is revealed.
  destination_not_allowed,
  other,
};

std::string_view ToString(TransportError e);

struct Response {
  long status = 0;  // NOLINT(google-runtime-int): libcurl's type
  std::string body;
  // Header names lower-cased, values trimmed, in arrival order (last response
  // only when curl followed a 100-continue or a redirect).
  std::vector<std::pair<std::string, std::string>> headers;
  TransportError error = TransportError::none;
  std::string error_message;  // curl's message; never includes request data
  std::chrono::microseconds elapsed{0};

  // First header with that (case-insensitive) name, or nullptr.
  const std::string* header(std::string_view name) const;
};

// Which client carries a request. `automatic` sends what would be HTTP/1.1
// anyway (http:// URLs; https:// ones when `http2` is off) through the
// gateway's own HTTP/1.1 client, and HTTP/2, SMTP and anything behind a proxy
// (http_proxy, https_proxy, all_proxy set) through libcurl. `curl` sends
// everything through libcurl; `native` sends every http(s):// request through
// the HTTP/1.1 client (SMTP still goes through libcurl).
enum class HttpEngine : std::uint8_t { automatic, curl, native };

struct TransportOptions {
  bool tls_verify = true;
  std::string ca_file;  // empty: the system store
  bool http2 = true;    // negotiate HTTP/2 over TLS (ALPN) and multiplex streams
  long max_connections_per_host = 64;   // NOLINT(google-runtime-int)
  long max_total_connections = 256;     // NOLINT(google-runtime-int)
  // Connections per libcurl connection pool. More connections than this are
  // split over several pools (each its own curl multi handle): curl looks for
  // a free connection by walking its pool, which with thousands of busy
  // connections (slow providers, Little's law) cost more than the request.
  long connections_per_pool = 256;      // NOLINT(google-runtime-int)
  std::size_t max_response_bytes = 1 << 20;
  std::string user_agent = "omnigate/0.1";
  HttpEngine engine = HttpEngine::automatic;
  // HTTP/1.1 client: keep-alive connections idle this long are closed
  // (servers drop theirs after 5-75 s; one the server closed only holds a
  // descriptor). curl keeps its own (118 s).
  std::chrono::milliseconds idle_timeout{30'000};
  // HTTP/1.1 client: a connection idle longer than this is checked (one
  // non-blocking peek) before it carries a request; one the server closed,
  // or with bytes nobody asked for on it, is closed instead.
  std::chrono::milliseconds idle_check_after{1'000};
  // Networks besides the public internet that untrusted_destination requests
  // may reach (the provider's destination_allowlist).
  std::vector<Cidr> destination_allowlist;
};

// Counters owned by one Transport; relaxed, read by /metrics.
struct TransportStats {
  std::uint64_t started = 0;
  std::uint64_t completed = 0;
  std::uint64_t transport_errors = 0;
  std::uint64_t http1_client = 0;  // of `started`: carried by the HTTP/1.1 client, not curl
};

// The providers' HTTP (and SMTP) client, driven by an Asio io_context. Two
// engines behind one interface (see HttpEngine): libcurl's multi_socket
// interface, with one CURLM (connection pool, HTTP/2 sessions) per
// `connections_per_pool` connections, and an HTTP/1.1 client of our own on
// Asio sockets, which costs a third of curl's CPU per request. Every method
// and every callback runs on the io_context's thread; nothing blocks it.
// Destroying the Transport aborts requests still on the wire without calling
// their callbacks.
class Transport {
 public:
  using Callback = std::function<void(Response)>;

  Transport(boost::asio::io_context& io, TransportOptions options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Starts the request; `done` runs exactly once on the io_context thread,
  // never from inside Send itself. A callback may call Send, but must not
  // destroy the Transport.
  void Send(Request request, Callback done);

  std::size_t in_flight() const;
  TransportStats stats() const;

 private:
  class Impl;
  bool Native(const Request& request) const;

  TransportOptions options_;
  bool proxied_ = false;  // a proxy is configured in the environment: curl honours it
  std::vector<std::unique_ptr<Impl>> pools_;
  std::unique_ptr<detail::Http1Client> h1_;
};

}  // namespace omnigate::http
