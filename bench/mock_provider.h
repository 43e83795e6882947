#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/receipt_sender.h"

namespace omnigate::bench {

// The provider APIs the mock speaks. The values index per-API arrays.
enum class MockApi : std::uint8_t { twilio, sendgrid, viber, push, generic };
inline constexpr std::size_t kMockApiCount = 5;

std::string_view ToString(MockApi api);
std::optional<MockApi> MockApiFromString(std::string_view name);

enum class LatencyDistribution : std::uint8_t {
  uniform,      // base + uniform [0, jitter_ms]
  exponential,  // exponential with mean `base`, plus the same uniform jitter
};

// A provider API simulator for tests, the demo and benchmarks. Speaks the
// Twilio Messages API, SendGrid v3 Mail Send, Viber REST send_message, an
// RFC 8030 push service and a generic aggregator endpoint (see
// bench/README.md for routes and answers). Built to be cheap: a hand-written
// HTTP/1.1 keep-alive parser on Asio, one io_context per thread, no
// allocation per request beyond the response and what recording needs.
// With a certificate (Options::tls_cert_file) the same handling runs over
// TLS (asio::ssl), HTTP/1.1 or, by ALPN, HTTP/2 (nghttp2's session, in
// mock_h2_connection.cc).
//
// Latency model: each API answer is delayed by a base (latency_ms, or the
// API's entry in latency_ms_by_api) plus a uniform random extra in
// [0, jitter_ms], on a timer (never a sleeping thread). With the exponential
// distribution the base part is drawn from an exponential with that mean.
//
// Outcome model, drawn per accepted-looking request in this order:
// invalid_number_rate (the API's invalid-recipient answer), gone_rate (push:
// 410; elsewhere the invalid-recipient answer), throttle_rate (the API's
// rate-limit answer), error_rate (500), else success.
class MockProvider {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0 = pick one
    int threads = 1;
    int latency_ms = 0;
    int jitter_ms = 0;
    double error_rate = 0;
    double throttle_rate = 0;
    int retry_after_s = 1;  // Retry-After of throttled answers
    double invalid_number_rate = 0;
    std::string account_sid = "ACmock";
    std::string auth_token = "mock-token";
    std::string record_path;      // JSONL, one line per message received
    bool keep_in_memory = false;  // keep each message for Received()
    std::uint64_t seed = 1;
    std::string sendgrid_api_key = "SG.mock";     // Authorization: Bearer <key>
    std::string viber_auth_token = "viber-mock";  // X-Viber-Auth-Token
    double gone_rate = 0;
    // API name ("viber") -> base latency replacing latency_ms for that API.
    std::map<std::string, int> latency_ms_by_api;
    LatencyDistribution latency_distribution = LatencyDistribution::uniform;
    // HTTPS: with both set the listener speaks TLS only (PEM certificate
    // chain and key), offering h2 and http/1.1 by ALPN, or http/1.1 alone
    // when http2 is false. Production providers are all HTTPS; the bench
    // measures the gateway's TLS cost against this (bench/README.md).
    std::string tls_cert_file;
    std::string tls_key_file;
    bool http2 = true;
    // Delivery receipts posted back after accepted messages (see
    // receipt_sender.h); none until a URL is set, here or later through
    // POST /_mock/receipts.
    ReceiptSender::Settings receipts;
    std::string generic_webhook_secret = "generic-mock";
    std::string sendgrid_webhook_private_key;  // PEM; empty: a fresh key
  };

  struct ReceivedMessage {
    std::string api;   // ToString(MockApi)
    std::string to;    // the recipient as the API names it
    std::string body;  // the message text (Twilio), request body, or base64url (push)
    int status = 0;    // HTTP status answered
    std::string id;    // the provider message id handed out; empty unless accepted
  };

  struct Header {
    std::string_view name;
    std::string_view value;
  };

  // One parsed request; views into the connection's buffer, valid during Handle().
  struct Request {
    std::string_view method;
    std::string_view target;
    std::span<const Header> headers;
    std::string_view body;

    // The first header with that name (ASCII case-insensitive); empty if absent.
    std::string_view header(std::string_view name) const;
  };

  struct Reply {
    int status = 200;
    std::string_view content_type = "application/json";  // static text; empty: no header
    std::string extra_headers;                           // complete lines, each ending in \r\n
    std::string body;
    std::chrono::microseconds delay{0};
  };

  explicit MockProvider(Options options);
  ~MockProvider();
  MockProvider(const MockProvider&) = delete;
  MockProvider& operator=(const MockProvider&) = delete;

  // Binds and starts the threads; returns the bound port (0 on failure, with
  // the reason in last_error()).
  std::uint16_t Start();
  void Stop();
  std::uint16_t port() const { return port_; }
  const std::string& last_error() const { return last_error_; }

  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t connections() const { return connections_.load(); }
  bool tls() const { return !options_.tls_cert_file.empty(); }
  // TLS connections that negotiated h2; handshakes that failed (the client
  // did not trust the certificate, spoke plain HTTP, went away).
  std::uint64_t h2_connections() const { return h2_connections_.load(); }
  std::uint64_t tls_handshake_failures() const { return tls_handshake_failures_.load(); }
  std::uint64_t api_requests(MockApi api) const {
    return api_counts_[static_cast<std::size_t>(api)].load(std::memory_order_relaxed);
  }
  std::map<int, std::uint64_t> status_counts() const;
  std::vector<ReceivedMessage> Received() const;
  // {"requests":N,"connections":N,"status":{"201":N,...},"apis":{"twilio":N,...}}
  std::string StatsJson() const;
  // One line naming every route, for the CLI's start banner.
  static std::string_view RoutesSummary();
  // The receipts this mock posts back: settings, counts, SendGrid's key.
  ReceiptSender& receipts() { return *receipts_; }

  // Called by connections (any thread); `random` is a fresh 64-bit draw.
  Reply Handle(const Request& request, std::uint64_t random);

 private:
  class Impl;
  enum class Outcome : std::uint8_t { ok, invalid, gone, throttle, error };

  Reply Twilio(std::string_view sid, const Request& request, std::uint64_t random);
  Reply SendGrid(const Request& request, std::uint64_t random);
  Reply Viber(const Request& request, std::uint64_t random);
  Reply Push(std::string_view subscription, const Request& request, std::uint64_t random);
  Reply Generic(const Request& request, std::uint64_t random);

  Outcome Draw(std::uint64_t random) const;
  std::chrono::microseconds Delay(MockApi api, std::uint64_t random) const;
  bool recording() const {
    return options_.keep_in_memory || record_ != nullptr ||
           receipts_on_.load(std::memory_order_relaxed);
  }
  void UpdateReceiptsOn();
  std::uint64_t NextId() { return id_counter_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Every API handler ends here for a message it read, once the answer is
  // decided: it is recorded, and an accepted one may get receipts.
  void OnMessage(const ReceivedMessage& m, std::string_view from, std::string_view callback,
                 std::uint64_t random);

  Options options_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<ReceiptSender> receipts_;
  std::atomic<bool> receipts_on_{false};
  std::uint16_t port_ = 0;
  std::string last_error_;
  std::string expected_auth_;                           // Twilio basic auth
  std::string expected_sendgrid_auth_;                  // "Bearer <key>"
  std::array<int, kMockApiCount> latency_ms_by_api_{};  // -1: use latency_ms
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> h2_connections_{0};
  std::atomic<std::uint64_t> tls_handshake_failures_{0};
  std::atomic<std::uint64_t> id_counter_{0};
  std::array<std::atomic<std::uint64_t>, 600> status_counts_{};
  std::array<std::atomic<std::uint64_t>, kMockApiCount> api_counts_{};
  mutable std::mutex mu_;  // guards the fields below
  std::vector<ReceivedMessage> received_;
  std::FILE* record_ = nullptr;
};

}  // namespace omnigate::bench
