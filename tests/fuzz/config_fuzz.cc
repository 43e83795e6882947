// Fuzzes the YAML config loader (gateway/config.h, ParseConfig). Any text must
// end in a Config or a list of errors with their key paths: no exception may
// escape, no crash, UB or leak. An accepted config must hold the cross-key
// rules the service relies on without checking again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "gateway/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto parsed = omnigate::gateway::ParseConfig(text);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty());
    for (const auto& e : parsed.error()) FUZZ_CHECK(!e.message.empty());
    return 0;
  }
  const auto& c = *parsed;
  FUZZ_CHECK(c.pipeline.workers >= 1 && c.pipeline.workers <= 256);
  FUZZ_CHECK(c.pipeline.max_in_flight_per_partition <= c.pipeline.max_in_flight);
  FUZZ_CHECK(c.retry.initial_backoff <= c.retry.max_backoff);
  FUZZ_CHECK(!c.kafka.brokers.empty() && !c.kafka.group_id.empty());
  std::set<std::string> names;
  for (const auto& p : c.providers) FUZZ_CHECK(names.insert(p.name).second);
  for (const auto& [channel, route] : c.routes) {
    for (const auto& name : route) {
      const auto it = std::find_if(c.providers.begin(), c.providers.end(),
                                   [&](const auto& p) { return p.name == name; });
      FUZZ_CHECK(it != c.providers.end() && it->channel == channel);
    }
  }
  return 0;
}
