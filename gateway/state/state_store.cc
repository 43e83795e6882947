#include "gateway/state/state_store.h"

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

}  // namespace omnigate::state
