#pragma once

// http::Response values as a server or the transport would produce them, for
// the adapters' MapResponse tests.
#include <string>
#include <utility>
#include <vector>

#include "providers/http/transport.h"

namespace omnigate::providers {

inline http::Response Status(long code, std::string body = {},  // NOLINT(google-runtime-int)
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Response r;
  r.status = code;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

inline http::Response Failed(http::TransportError e) {
  http::Response r;
  r.error = e;
  return r;
}

}  // namespace omnigate::providers
