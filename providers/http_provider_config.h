#pragma once

#include <chrono>
#include <string>

namespace omnigate::providers {

// Settings every HTTP-based provider has.
struct HttpProviderCommon {
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{3'000};
  int max_in_flight = 512;  // per gateway instance, split across workers
  bool tls_verify = true;
  std::string ca_file;
};

}  // namespace omnigate::providers
