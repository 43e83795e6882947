#include "providers/log_throttle.h"

namespace omnigate::providers {

bool ShouldLog(std::string_view scope, std::string_view key, std::chrono::seconds period,
               std::uint64_t* suppressed) {
  struct Seen {
    std::chrono::steady_clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  static std::mutex mu;
  static std::unordered_map<std::string, Seen> seen;
  const auto now = std::chrono::steady_clock::now();
  std::string k;
  k.reserve(scope.size() + key.size() + 1);
  k.append(scope).append("/").append(key);
  std::lock_guard lock(mu);
  auto [it, inserted] = seen.try_emplace(std::move(k), Seen{now, 0});
  if (!inserted && now - it->second.last < period) {
    ++it->second.suppressed;
    return false;
  }
  if (suppressed != nullptr) *suppressed = it->second.suppressed;
  it->second = Seen{now, 0};
  return true;
}

}  // namespace omnigate::providers
