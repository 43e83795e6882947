#include "providers/log_throttle.h"

namespace omnigate::providers {

bool ShouldLog(std::string_view scope, std::string_view key, std::chrono::seconds period) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::chrono::steady_clock::time_point> last;
  const auto now = std::chrono::steady_clock::now();
  std::string k;
  k.reserve(scope.size() + key.size() + 1);
  k.append(scope).append("/").append(key);
  std::lock_guard lock(mu);
  auto [it, inserted] = last.try_emplace(std::move(k), now);
  if (inserted) return true;
  if (now - it->second < period) return false;
  it->second = now;
  return true;
}

}  // namespace omnigate::providers
