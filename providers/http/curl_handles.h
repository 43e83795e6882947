#pragma once
// Private to providers/: the only header that includes libcurl. RAII holders
// for its handles.

#include <curl/curl.h>

#include <memory>

namespace omnigate::http::detail {

struct CurlDeleter {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
  void operator()(curl_slist* p) const { curl_slist_free_all(p); }
};
struct MultiDeleter {
  void operator()(CURLM* p) const { curl_multi_cleanup(p); }
};

using EasyPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, CurlDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;

// curl_global_init exactly once per process, before the first handle.
void EnsureCurlGlobalInit();

}  // namespace omnigate::http::detail
