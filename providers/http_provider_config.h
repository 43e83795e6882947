#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "providers/http/transport.h"

namespace omnigate::providers {

// Settings every HTTP-based provider has.
struct HttpProviderCommon {
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{3'000};
  int max_in_flight = 512;  // per gateway instance, split across workers
  bool tls_verify = true;
  std::string ca_file;
  // `http_client`: which client carries the requests (http::HttpEngine).
  http::HttpEngine http_client = http::HttpEngine::automatic;
  // `destination_allowlist`: networks besides the public internet that
  // requests with a destination taken from the request (web push endpoints,
  // generic URLs with a field in the host) may connect to.
  std::vector<http::Cidr> destination_allowlist;
};

}  // namespace omnigate::providers
