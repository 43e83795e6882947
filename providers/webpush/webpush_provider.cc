#include "providers/webpush/webpush_provider.h"

#include <ctime>

namespace omnigate::providers {
namespace {

// Path, query and fragment of a URL: everything after the authority, which
// may hold userinfo that UrlOrigin leaves out.
std::string_view AfterAuthority(std::string_view url) {
  const auto scheme = url.find("://");
  const auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const auto path = url.find_first_of("/?#", start);
  return path == std::string_view::npos ? std::string_view() : url.substr(path);
}

}  // namespace

WebPushProvider::WebPushProvider(std::string name, std::shared_ptr<const WebPushConfig> config,
                                 webpush::VapidKey key, http::Transport& transport,
                                 std::size_t max_in_flight)
    : name_(std::move(name)),
      config_(std::move(config)),
      key_(std::move(key)),
      dispatcher_(name_, "the push service", transport, max_in_flight) {}

const std::string& WebPushProvider::AuthorizationFor(const std::string& audience) {
  const std::int64_t now = std::time(nullptr);
  CachedJwt& cached = jwt_cache_[audience];
  // Re-sign when less than a quarter of the lifetime is left, so a JWT never
  // expires in flight; an ES256 signature per message would cost more than
  // the rest of the send.
  if (cached.expires - now < config_->jwt_lifetime.count() / 4) {
    cached.expires = now + config_->jwt_lifetime.count();
    cached.header = "Authorization: " +
                    key_.AuthorizationHeader(
                        key_.SignJwt(audience, config_->vapid_subject, cached.expires));
  }
  return cached.header;
}

SendResult WebPushProvider::MapResponse(const http::Response& r) {
  SendResult out;
  out.latency = r.elapsed;
  if (r.error == http::TransportError::none) {
    switch (r.status) {
      case 200:
      case 201:
      case 202:
        out.status = SendStatus::accepted;
        // The push message resource (RFC 8030 §5): its URL is the only id a
        // push service gives.
        if (const std::string* location = r.header("location")) {
          out.provider_message_id = *location;
        }
        return out;
      case 404:
      case 410:
        // The subscription expired or was withdrawn: the upstream must delete it.
        out.status = SendStatus::invalid_address;
        out.reason = "subscription_gone";
        return out;
      case 413:
        out.status = SendStatus::permanent;
        out.reason = "payload_too_large";
        return out;
      default:
        break;
    }
  }
  if (auto common = MapCommonHttpOutcome(r)) return *std::move(common);
  out.status = SendStatus::permanent;
  out.reason = "http_" + std::to_string(r.status);
  return out;
}

void WebPushProvider::Send(const OutboundMessage& message, SendCallback done) {
  const auto& push = message.webpush;
  auto fail = [&done](std::string reason) {
    SendResult r;
    r.status = SendStatus::permanent;
    r.reason = std::move(reason);
    done(std::move(r));
  };
  const auto ua_public = webpush::Base64UrlDecode(push.p256dh);
  const auto auth = webpush::Base64UrlDecode(push.auth);
  if (!ua_public || !auth) return fail("bad_subscription_keys");
  if (push.payload.size() > webpush::kMaxPlaintextBytes) return fail("payload_too_large");
  auto body = webpush::Encrypt(push.payload, *ua_public, *auth);
  if (!body) {
    // Keys that decode but are the wrong size or not a P-256 point are as bad
    // as keys that do not decode; only other failures are ours.
    const std::string& e = body.error();
    const bool bad_keys = e.starts_with("ua public key") || e.starts_with("auth secret");
    return fail(bad_keys ? "bad_subscription_keys" : "encryption_failed");
  }

  const std::string audience = webpush::AudienceOf(push.endpoint);
  if (audience.empty()) return fail("bad_endpoint");
  http::Request req;
  req.method = http::Method::post;
  if (config_->endpoint_origin_override.empty()) {
    req.url = std::string(push.endpoint);
    // Any publisher can name any URL as an endpoint.
    req.untrusted_destination = true;
  } else {
    req.url = config_->endpoint_origin_override + std::string(AfterAuthority(push.endpoint));
  }
  req.headers.reserve(6);
  req.headers.push_back(AuthorizationFor(audience));
  req.headers.push_back("TTL: " + std::to_string(push.ttl.count()));
  req.headers.push_back("Urgency: " + std::string(ToString(push.urgency)));
  if (!push.topic.empty()) req.headers.push_back("Topic: " + std::string(push.topic));
  req.headers.emplace_back("Content-Encoding: aes128gcm");
  req.headers.emplace_back("Content-Type: application/octet-stream");
  req.body = *std::move(body);
  req.timeout = config_->http.timeout;
  req.connect_timeout = config_->http.connect_timeout;
  dispatcher_.Dispatch(message.bulk, std::move(req), &MapResponse, std::move(done));
}

}  // namespace omnigate::providers
