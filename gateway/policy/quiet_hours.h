#pragma once

#include <cctz/time_zone.h>

#include <chrono>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

namespace omnigate::policy {

// A recipient's quiet hours as wall-clock times in their own zone, in minutes
// after local midnight, each in [0, 1440). start > end means the window
// crosses midnight (21:00-08:00); start == end is rejected by the parser,
// because it could mean either "never" or "all day".
struct QuietWindow {
  int start_minute = 0;
  int end_minute = 0;
};

// Parses "HH:MM-HH:MM" (two-digit 24-hour times, e.g. "21:00-08:00"). The
// error names the part that is wrong and what it should look like, so an
// operator can fix the config or request without reading this code.
Result<QuietWindow, std::string> ParseQuietWindow(std::string_view text);

// When the quiet window covering `now` ends, or nullopt when `now` is outside
// every window in `zone`'s local time.
//
// Each day's window is an interval of absolute time, [start, end): `now` at
// exactly the start is inside, at exactly the end outside. A window that
// crosses midnight ends on the next local day. Each boundary is the first
// instant at which the zone's wall clock shows that time or later, which
// settles the two DST cases:
//   - the time is skipped (spring forward, e.g. 03:30 in Europe/Bucharest on
//     2026-03-29, when 03:00 jumps to 04:00): the boundary is the instant of
//     the jump (04:00 new time); quiet hours are never stretched past the gap.
//   - the time happens twice (fall back, e.g. 03:30 on 2026-10-25, when 04:00
//     goes back to 03:00): the boundary is its first occurrence. A window
//     that ended at the first 03:30 does not start again when the clock
//     repeats the hour: the recipient has been released once already.
std::optional<std::chrono::system_clock::time_point> QuietUntil(
    const QuietWindow& window, const cctz::time_zone& zone,
    std::chrono::system_clock::time_point now);

// Loads each IANA zone once and hands out cctz handles (a pointer each, cheap
// to copy, valid for the life of the process: cctz never unloads a zone).
//
// One instance is shared by every worker thread. After a zone's first load a
// lookup takes only a shared lock, so workers never wait for each other; the
// file is read with no lock held.
//
// Zone names come from requests (`to.timezone`, which the decoder checks for
// shape only), so a name reaches cctz only if it is IANA-shaped and names a
// file under the zoneinfo directory: cctz keeps every name it is asked for,
// loaded or not, for the life of the process, and would otherwise grow by one
// entry per made-up name. Unknown names are not remembered here either.
class TimeZones {
 public:
  // The zone named `iana_name`, or nullopt when this host's tz database does
  // not have it ("Mars/Olympus", "localtime", "../etc/passwd").
  std::optional<cctz::time_zone> Find(std::string_view iana_name);
  bool Valid(std::string_view iana_name) { return Find(iana_name).has_value(); }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::shared_mutex mu_;
  std::unordered_map<std::string, cctz::time_zone, NameHash, std::equal_to<>> zones_;
};

}  // namespace omnigate::policy
