#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace omnigate::providers {

// True at most once per `period` for each (scope, key): conditions imposed
// from outside (a provider refusing credentials) are logged once, then
// counted, not logged per request. When it returns true, `suppressed` (if
// given) is how many calls for that key returned false since the last true.
bool ShouldLog(std::string_view scope, std::string_view key,
               std::chrono::seconds period = std::chrono::seconds(30),
               std::uint64_t* suppressed = nullptr);

template <typename... Args>
void LogThrottled(std::string_view scope, std::string_view key,
                  spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (ShouldLog(scope, key)) spdlog::warn(fmt, std::forward<Args>(args)...);
}

}  // namespace omnigate::providers
