#pragma once

#include <chrono>
#include <string>

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
};

}  // namespace omnigate::providers
