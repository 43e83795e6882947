#include "gateway/policy/quiet_hours.h"

#include <cctz/civil_time.h>
#include <sys/stat.h>

#include <array>
#include <cstdlib>
#include <mutex>

namespace omnigate::policy {
namespace {

constexpr int kMinutesPerDay = 24 * 60;
// The longest name in the tz database is 32 characters; the request decoder
// allows 64.
constexpr std::size_t kMaxZoneNameLength = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// One side of the window, "HH:MM". `which` is "start" or "end", for the error.
Result<int, std::string> ParseClock(std::string_view text, std::string_view which) {
  if (text.size() != 5 || !IsDigit(text[0]) || !IsDigit(text[1]) || text[2] != ':' ||
      !IsDigit(text[3]) || !IsDigit(text[4])) {
    return MakeUnexpected(std::string(which) + " \"" + std::string(text) +
                          "\" is not HH:MM (two digits each, 24-hour, e.g. 08:00)");
  }
  const int hour = (text[0] - '0') * 10 + (text[1] - '0');
  const int minute = (text[3] - '0') * 10 + (text[4] - '0');
  if (hour > 23) {
    return MakeUnexpected(std::string(which) + " hour " + std::to_string(hour) +
                          " is out of range 00-23 (midnight is 00:00)");
  }
  if (minute > 59) {
    return MakeUnexpected(std::string(which) + " minute " + std::to_string(minute) +
                          " is out of range 00-59");
  }
  return hour * 60 + minute;
}

// The first instant at which `zone`'s wall clock shows `cs` or later (see
// QuietUntil in the header for why).
std::chrono::system_clock::time_point FirstInstantAt(const cctz::time_zone& zone,
                                                     const cctz::civil_second& cs) {
  const cctz::time_zone::civil_lookup found = zone.lookup(cs);
  // UNIQUE: pre == trans == post. REPEATED: pre is the earlier of the two
  // (pre-transition offset). SKIPPED: trans is the instant the clock jumps
  // over `cs`; pre and post would land an offset's worth after or before it.
  const auto instant =
      found.kind == cctz::time_zone::civil_lookup::SKIPPED ? found.trans : found.pre;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(instant);
}

// The names cctz may be asked for: UTC-like single words and Area/Location
// paths, each segment starting with a letter. No dots or leading slash, so
// no way out of the zoneinfo directory (Debian's cctz 2.3 does not check).
bool IsZoneShaped(std::string_view name) {
  if (name.empty() || name.size() > kMaxZoneNameLength) return false;
  // A file on Debian (a link to /etc/localtime): the host's zone, never a
  // recipient's.
  if (name == "localtime") return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view segment = name.substr(start, end - start);
    if (segment.empty() || !IsAlpha(segment.front())) return false;
    for (const char c : segment) {
      if (!IsAlpha(c) && !IsDigit(c) && c != '_' && c != '-' && c != '+') return false;
    }
    start = end + 1;
  }
  return true;
}

// Whether the tz database has a file for `name`, looked up where cctz looks
// ($TZDIR, else /usr/share/zoneinfo). A stat, so that an unknown name costs
// no memory in cctz (see TimeZones in the header).
bool ZoneFileExists(std::string_view name) {
  const char* dir = std::getenv("TZDIR");
  std::string path = dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
  path += '/';
  path += name;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Result<QuietWindow, std::string> ParseQuietWindow(std::string_view text) {
  const auto fail = [&](std::string_view why) {
    return MakeUnexpected("quiet window \"" + std::string(text) + "\": " + std::string(why));
  };
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos || text.find('-', dash + 1) != std::string_view::npos) {
    return fail("expected HH:MM-HH:MM, start and end separated by one '-' (e.g. 21:00-08:00)");
  }
  auto start = ParseClock(text.substr(0, dash), "start");
  if (!start) return fail(start.error());
  auto end = ParseClock(text.substr(dash + 1), "end");
  if (!end) return fail(end.error());
  if (*start == *end) {
    return fail(
        "start and end are the same time; a window needs a length (leave quiet hours out "
        "to have none)");
  }
  return QuietWindow{.start_minute = *start, .end_minute = *end};
}

std::optional<std::chrono::system_clock::time_point> QuietUntil(
    const QuietWindow& window, const cctz::time_zone& zone,
    std::chrono::system_clock::time_point now) {
  const cctz::civil_day today(cctz::convert(now, zone));
  const bool crosses_midnight = window.start_minute > window.end_minute;
  // The windows that start yesterday and today (local days): one that
  // crosses midnight covers early today from yesterday's start.
  for (const cctz::civil_day day : std::array{today - 1, today}) {
    const cctz::civil_second day_start(day);
    const auto start = FirstInstantAt(zone, day_start + window.start_minute * 60);
    if (now < start) continue;
    const auto end = FirstInstantAt(
        zone, day_start + (crosses_midnight ? kMinutesPerDay : 0) * 60 + window.end_minute * 60);
    if (now < end) return end;
  }
  return std::nullopt;
}

std::optional<cctz::time_zone> TimeZones::Find(std::string_view iana_name) {
  {
    std::shared_lock lock(mu_);
    if (auto it = zones_.find(iana_name); it != zones_.end()) return it->second;
  }
  if (!IsZoneShaped(iana_name) || !ZoneFileExists(iana_name)) return std::nullopt;
  // Read with no lock held: two threads may both load a new zone, which
  // cctz makes safe, and the first one in keeps its entry.
  cctz::time_zone zone;
  if (!cctz::load_time_zone(std::string(iana_name), &zone)) return std::nullopt;
  std::unique_lock lock(mu_);
  return zones_.try_emplace(std::string(iana_name), zone).first->second;
}

}  // namespace omnigate::policy
