#pragma once

#include <simdjson.h>

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>

#include "providers/concurrency_limiter.h"
#include "providers/http/transport.h"
#include "providers/provider.h"

namespace omnigate::providers {

// One simdjson parser per thread, its buffers reused across responses.
simdjson::dom::parser& ThreadJsonParser();

// Retry-After in delta-seconds (RFC 9110 §10.2.3); `fallback` when absent or
// in the HTTP-date form, which no provider we speak uses.
std::chrono::milliseconds RetryAfter(const http::Response& response,
                                     std::chrono::milliseconds fallback = std::chrono::seconds(1));

// A failed exchange (no status at all): retry, except TLS failures, which are
// configuration (CA, host name, STARTTLS refused) and permanent. nullopt when
// the exchange completed.
std::optional<SendResult> MapTransportFailure(const http::Response& response);

// The answers every HTTP API means the same way: transport failures, 429,
// 5xx, 401/403. nullopt for everything else (2xx, other 4xx), which only the
// adapter can read. Adapters call this first in their MapResponse.
std::optional<SendResult> MapCommonHttpOutcome(const http::Response& response);

// The send half every HTTP adapter shares: bounded concurrency that serves the
// transactional lane first, the transport call, the adapter's mapping, and a
// throttled log line for conditions an operator has to fix (credentials, TLS).
// Lives on one worker thread, like the adapter that owns it.
class HttpDispatcher {
 public:
  using Mapper = std::function<SendResult(const http::Response&)>;

  // `api` names the provider's API in log lines ("Twilio", "SendGrid").
  HttpDispatcher(std::string provider_name, std::string api, http::Transport& transport,
                 std::size_t max_in_flight);

  void Dispatch(bool bulk, http::Request request, Mapper map, SendCallback done);
  std::size_t in_flight() const { return limiter_.active() + limiter_.queued(); }
  std::size_t AbandonQueued() { return limiter_.AbandonQueued(); }
  const std::string& provider_name() const { return provider_name_; }

 private:
  std::string provider_name_;
  std::string api_;
  http::Transport& transport_;
  ConcurrencyLimiter limiter_;
  std::shared_ptr<const std::string> last_origin_;  // of the latest request's URL
};

// The origin ("https://host:port") of a URL, for log lines: never the path or
// query, which may carry credentials.
std::string_view UrlOrigin(std::string_view url);

}  // namespace omnigate::providers
