#include "providers/http_adapter.h"

#include <charconv>

#include "providers/log_throttle.h"

namespace omnigate::providers {

simdjson::dom::parser& ThreadJsonParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

std::chrono::milliseconds RetryAfter(const http::Response& r, std::chrono::milliseconds fallback) {
  if (const std::string* v = r.header("retry-after")) {
    int seconds = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), seconds);
    if (ec == std::errc{} && p == v->data() + v->size() && seconds >= 0) {
      return std::chrono::seconds(seconds);
    }
  }
  return fallback;
}

std::optional<SendResult> MapTransportFailure(const http::Response& r) {
  if (r.error == http::TransportError::none) return std::nullopt;
  SendResult out;
  out.latency = r.elapsed;
  // A TLS failure is a configuration problem (CA, proxy, host name), not bad
  // luck: retrying would only repeat it.
  // Neither is a refused destination: the address will not become allowed.
  out.status = r.error == http::TransportError::tls ||
                       r.error == http::TransportError::destination_not_allowed
                   ? SendStatus::permanent
                   : SendStatus::retry;
  out.reason = std::string(http::ToString(r.error));
  return out;
}

std::optional<SendResult> MapCommonHttpOutcome(const http::Response& r) {
  if (auto failed = MapTransportFailure(r)) return failed;
  SendResult out;
  out.latency = r.elapsed;
  const long s = r.status;  // NOLINT(google-runtime-int)
  if (s == 429) {
    out.status = SendStatus::throttled;
    out.reason = "http_429";
    out.retry_after = RetryAfter(r);
    return out;
  }
  if (s >= 500) {
    out.status = SendStatus::retry;
    out.reason = "http_" + std::to_string(s);
    if (s == 503) out.retry_after = RetryAfter(r, std::chrono::milliseconds(0));
    return out;
  }
  if (s == 401 || s == 403) {
    out.status = SendStatus::permanent;
    out.reason = "auth";
    return out;
  }
  return std::nullopt;
}

std::string_view UrlOrigin(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return url.substr(0, url.find('/'));
  const auto path = url.find_first_of("/?#", scheme + 3);
  std::string_view origin = url.substr(0, path);
  // Drop userinfo ("user:pass@") should anyone put it in a URL.
  if (const auto at = origin.find('@', scheme + 3); at != std::string_view::npos) {
    return origin.substr(at + 1);
  }
  return origin;
}

HttpDispatcher::HttpDispatcher(std::string provider_name, std::string api,
                               http::Transport& transport, std::size_t max_in_flight)
    : provider_name_(std::move(provider_name)),
      api_(std::move(api)),
      transport_(transport),
      limiter_(max_in_flight) {}

void HttpDispatcher::Dispatch(bool bulk, http::Request request, Mapper map, SendCallback done) {
  limiter_.Run(bulk, [this, request = std::move(request), map = std::move(map),
                      done = std::move(done)](LimiterSlot slot) mutable {
    if (!slot.held()) {
      SendResult abandoned;
      abandoned.status = SendStatus::retry;
      abandoned.reason = "shutdown";
      abandoned.not_sent = true;
      done(std::move(abandoned));
      return;
    }
    // Kept for the TLS failure message; one shared copy per origin rather
    // than a string per request (most providers have one origin).
    const std::string_view url_origin = UrlOrigin(request.url);
    if (!last_origin_ || *last_origin_ != url_origin) {
      last_origin_ = std::make_shared<const std::string>(url_origin);
    }
    transport_.Send(std::move(request), [this, origin = last_origin_, map = std::move(map),
                                         done = std::move(done),
                                         slot = std::move(slot)](http::Response r) mutable {
      SendResult result = map(r);
      // The caller frees the slot when it is done with the send (see
      // SendResult::slot), or it frees itself when the result is dropped.
      result.slot = std::move(slot);
      if (result.status == SendStatus::permanent && result.reason == "auth") {
        LogThrottled(provider_name_, "auth",
                     "provider {}: {} refused our credentials (status {}); check the "
                     "provider's credentials in the config",
                     provider_name_, api_, r.status);
      } else if (r.error == http::TransportError::tls) {
        LogThrottled(provider_name_, "tls",
                     "provider {}: TLS failure talking to {} ({}); check the provider's URL and "
                     "ca_file",
                     provider_name_, *origin, r.error_message);
      }
      done(std::move(result));
    });
  });
}

}  // namespace omnigate::providers
