#include "gateway/state/state_store.h"

#include <memory>
#include <vector>

namespace omnigate::state {

std::string_view ToString(Family f) {
  switch (f) {
    case Family::dedup: return "dedup";
    case Family::content: return "content";
    case Family::suppression: return "suppression";
    case Family::consent: return "consent";
    case Family::counter: return "counter";
    case Family::status: return "status";
    case Family::timer: return "timer";
  }
  return "unknown";
}

std::string AppendKeepingNewest(std::string_view list, std::string_view item, std::uint32_t keep) {
  if (keep == 0) keep = 1;
  std::string out;
  // Count the items and drop the oldest until the new one fits in `keep`.
  std::size_t items = list.empty() ? 0 : 1;
  for (const char c : list) items += c == ',' ? 1 : 0;
  std::size_t drop = items + 1 > keep ? items + 1 - keep : 0;
  std::size_t pos = 0;
  while (drop > 0 && pos < list.size()) {
    const auto comma = list.find(',', pos);
    pos = comma == std::string_view::npos ? list.size() : comma + 1;
    --drop;
  }
  out.reserve(list.size() - pos + item.size() + 1);
  out.append(list.substr(pos));
  if (!out.empty()) out.push_back(',');
  out.append(item);
  return out;
}

void StateStore::ExecuteParts(std::span<const std::span<Op>> parts, Done done) {
  // Moving strings costs pointers, not copies.
  auto merged = std::make_shared<std::vector<Op>>();
  std::size_t total = 0;
  for (const auto part : parts) total += part.size();
  merged->reserve(total);
  for (const auto part : parts) {
    for (Op& op : part) merged->push_back(std::move(op));
  }
  Execute(*merged, [merged, parts, done = std::move(done)](StoreStatus status) {
    std::size_t at = 0;
    for (const auto part : parts) {
      for (Op& op : part) op = std::move((*merged)[at++]);
    }
    done(status);
  });
}

}  // namespace omnigate::state
