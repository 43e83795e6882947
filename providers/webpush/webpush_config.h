#pragma once

#include <chrono>
#include <string>

#include "providers/http_provider_config.h"

namespace omnigate::providers {

// Web push straight to the subscriber's push service (RFC 8030), payload
// encrypted per RFC 8291, the application server identified per RFC 8292.
struct WebPushConfig {
  std::string vapid_private_key;  // base64url P-256 scalar; secret: ${ENV} or a file
  std::string vapid_subject;      // "mailto:ops@example.com" or an https URL
  std::chrono::seconds jwt_lifetime{12 * 3600};  // RFC 8292 caps it at 24 h
  // When set, every push goes to this origin ("http://127.0.0.1:9902") with
  // the endpoint's path, instead of the endpoint's own origin. For the demo and
  // tests against the mock push service; the VAPID audience stays the real one.
  std::string endpoint_origin_override;
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
