#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace omnigate::providers {

// True at most once per `period` for each (scope, key): conditions imposed
// from outside (a provider refusing credentials) are logged once, then
// counted, not logged per request.
bool ShouldLog(std::string_view scope, std::string_view key,
               std::chrono::seconds period = std::chrono::seconds(30));

template <typename... Args>
void LogThrottled(std::string_view scope, std::string_view key,
                  spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (ShouldLog(scope, key)) spdlog::warn(fmt, std::forward<Args>(args)...);
}

}  // namespace omnigate::providers
