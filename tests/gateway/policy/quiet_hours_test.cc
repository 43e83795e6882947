// Quiet hours: parsing, and the instant a window ends in a recipient's zone.
// Every expected instant is worked out by hand in UTC from the zone's offsets
// (written beside it), and built and printed with std::chrono alone, so a
// mistake in how cctz is used cannot cancel itself out in the expectation.
#include "gateway/policy/quiet_hours.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace omnigate::policy {
namespace {

using std::chrono::system_clock;

// "2026-03-29T00:59:59Z" -> that instant.
system_clock::time_point Utc(const char* iso) {
  int y = 0;
  unsigned mo = 0, d = 0;
  int h = 0, mi = 0, s = 0;
  if (std::sscanf(iso, "%d-%u-%uT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s) != 6) {
    ADD_FAILURE() << "bad instant in the test: " << iso;
  }
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{mo} /
                               std::chrono::day{d}} +
         std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s};
}

// The instant as "2026-03-29T01:00:00Z" (with nanoseconds only when it has
// any), so that a failure shows both sides readably.
std::string Iso(system_clock::time_point tp) {
  const auto day = std::chrono::floor<std::chrono::days>(tp);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::duration_cast<std::chrono::nanoseconds>(tp - day)};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  std::string out = buf;
  if (hms.subseconds().count() != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(hms.subseconds().count()));
    out += buf;
  }
  return out + "Z";
}

TimeZones& Zones() {
  static TimeZones zones;
  return zones;
}

cctz::time_zone Zone(const char* name) {
  auto zone = Zones().Find(name);
  if (!zone) {
    ADD_FAILURE() << name << " is not in this host's tz database (install tzdata)";
    return cctz::utc_time_zone();
  }
  return *zone;
}

// When the window `window` holding `now` ends, in UTC, or "outside".
std::string Until(const char* window, const char* zone, system_clock::time_point now) {
  auto parsed = ParseQuietWindow(window);
  if (!parsed) {
    ADD_FAILURE() << parsed.error();
    return "unparsed";
  }
  const auto until = QuietUntil(*parsed, Zone(zone), now);
  return until ? Iso(*until) : "outside";
}
std::string Until(const char* window, const char* zone, const char* now) {
  return Until(window, zone, Utc(now));
}

// ---- parsing ----------------------------------------------------------------

TEST(ParseQuietWindow, AcceptsTwoDigitTwentyFourHourTimes) {
  struct Case {
    const char* text;
    int start;
    int end;
  };
  for (const Case c :
       {Case{"21:00-08:00", 21 * 60, 8 * 60}, Case{"00:00-23:59", 0, 1439},
        Case{"13:30-15:45", 13 * 60 + 30, 15 * 60 + 45}, Case{"23:59-00:00", 1439, 0}}) {
    auto w = ParseQuietWindow(c.text);
    ASSERT_TRUE(w) << c.text << ": " << w.error();
    EXPECT_EQ(w->start_minute, c.start) << c.text;
    EXPECT_EQ(w->end_minute, c.end) << c.text;
  }
}

TEST(ParseQuietWindow, SaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case c : {
           Case{"",
                "quiet window \"\": expected HH:MM-HH:MM, start and end separated by one "
                "'-' (e.g. 21:00-08:00)"},
           Case{"21:00",
                "quiet window \"21:00\": expected HH:MM-HH:MM, start and end "
                "separated by one '-' (e.g. 21:00-08:00)"},
           Case{"21:00-08:00-09:00",
                "quiet window \"21:00-08:00-09:00\": expected "
                "HH:MM-HH:MM, start and end separated by one '-' (e.g. "
                "21:00-08:00)"},
           Case{"9:00-17:00",
                "quiet window \"9:00-17:00\": start \"9:00\" is not HH:MM (two "
                "digits each, 24-hour, e.g. 08:00)"},
           Case{"21:00-8:00",
                "quiet window \"21:00-8:00\": end \"8:00\" is not HH:MM (two "
                "digits each, 24-hour, e.g. 08:00)"},
           Case{"21:00 - 08:00",
                "quiet window \"21:00 - 08:00\": start \"21:00 \" is not "
                "HH:MM (two digits each, 24-hour, e.g. 08:00)"},
           Case{"21.00-08.00",
                "quiet window \"21.00-08.00\": start \"21.00\" is not HH:MM "
                "(two digits each, 24-hour, e.g. 08:00)"},
           Case{"ab:cd-08:00",
                "quiet window \"ab:cd-08:00\": start \"ab:cd\" is not HH:MM "
                "(two digits each, 24-hour, e.g. 08:00)"},
           Case{"9pm-8am",
                "quiet window \"9pm-8am\": start \"9pm\" is not HH:MM (two digits "
                "each, 24-hour, e.g. 08:00)"},
           Case{"24:00-08:00",
                "quiet window \"24:00-08:00\": start hour 24 is out of range "
                "00-23 (midnight is 00:00)"},
           Case{"21:00-24:00",
                "quiet window \"21:00-24:00\": end hour 24 is out of range "
                "00-23 (midnight is 00:00)"},
           Case{"21:60-08:00",
                "quiet window \"21:60-08:00\": start minute 60 is out of range "
                "00-59"},
           Case{"21:00-08:99",
                "quiet window \"21:00-08:99\": end minute 99 is out of range "
                "00-59"},
           Case{"08:00-08:00",
                "quiet window \"08:00-08:00\": start and end are the same "
                "time; a window needs a length (leave quiet hours out to have "
                "none)"},
       }) {
    auto w = ParseQuietWindow(c.text);
    ASSERT_FALSE(w) << c.text << " was accepted";
    EXPECT_EQ(w.error(), c.error);
  }
}

// ---- windows in a zone without DST --------------------------------------------

TEST(QuietUntil, SameDayWindow) {
  EXPECT_EQ(Until("13:00-15:00", "UTC", "2026-06-01T12:59:59Z"), "outside");
  EXPECT_EQ(Until("13:00-15:00", "UTC", "2026-06-01T14:00:00Z"), "2026-06-01T15:00:00Z");
  EXPECT_EQ(Until("13:00-15:00", "UTC", "2026-06-01T20:00:00Z"), "outside");
}

TEST(QuietUntil, StartIsInsideEndIsOutside) {
  EXPECT_EQ(Until("13:00-15:00", "UTC", "2026-06-01T13:00:00Z"), "2026-06-01T15:00:00Z");
  EXPECT_EQ(Until("13:00-15:00", "UTC", Utc("2026-06-01T15:00:00Z") - std::chrono::nanoseconds{1}),
            "2026-06-01T15:00:00Z");
  EXPECT_EQ(Until("13:00-15:00", "UTC", "2026-06-01T15:00:00Z"), "outside");
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-01T21:00:00Z"), "2026-06-02T08:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-02T08:00:00Z"), "outside");
}

TEST(QuietUntil, WindowAcrossMidnight) {
  // Before midnight: ends the next day.
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-01T23:30:00Z"), "2026-06-02T08:00:00Z");
  // At and after midnight: ends the same day.
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-02T00:00:00Z"), "2026-06-02T08:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-02T07:59:59Z"), "2026-06-02T08:00:00Z");
  // Outside: the day between, and just before the start.
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-02T12:00:00Z"), "outside");
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-06-02T20:59:59Z"), "outside");
  // Across a month and a year end.
  EXPECT_EQ(Until("21:00-08:00", "UTC", "2026-12-31T22:00:00Z"), "2027-01-01T08:00:00Z");
}

TEST(QuietUntil, PositiveOffsetAsiaKolkata) {
  // IST is UTC+05:30 all year: 22:00-07:00 IST is 16:30-01:30 UTC.
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-01T16:29:59Z"), "outside");
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-01T16:30:00Z"), "2026-06-02T01:30:00Z");
  // 23:30 IST, June 1.
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-01T18:00:00Z"), "2026-06-02T01:30:00Z");
  // 01:30 IST, June 2: already the next local day while UTC is still June 1.
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-01T20:00:00Z"), "2026-06-02T01:30:00Z");
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-02T01:30:00Z"), "outside");
  // 17:30 IST.
  EXPECT_EQ(Until("22:00-07:00", "Asia/Kolkata", "2026-06-01T12:00:00Z"), "outside");
}

TEST(QuietUntil, NegativeOffsetAmericaNewYork) {
  // June: EDT, UTC-4. 22:00-07:00 EDT is 02:00-11:00 UTC.
  // 19:00 EDT, June 1: outside, though 23:00 would be inside in UTC.
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-06-01T23:00:00Z"), "outside");
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-06-02T02:00:00Z"),
            "2026-06-02T11:00:00Z");
  // 23:00 EDT, June 1: the UTC date is already June 2.
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-06-02T03:00:00Z"),
            "2026-06-02T11:00:00Z");
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-06-02T10:59:59Z"),
            "2026-06-02T11:00:00Z");
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-06-02T11:00:00Z"), "outside");
  // January: EST, UTC-5. 23:00 EST Jan 14 -> 07:00 EST Jan 15 = 12:00 UTC.
  EXPECT_EQ(Until("22:00-07:00", "America/New_York", "2026-01-15T04:00:00Z"),
            "2026-01-15T12:00:00Z");
}

// ---- Europe/Bucharest across its 2026 DST changes -----------------------------
// Spring: Sunday 2026-03-29, 03:00 EET (UTC+2) -> 04:00 EEST (UTC+3), at 01:00 UTC.
// Autumn: Sunday 2026-10-25, 04:00 EEST (UTC+3) -> 03:00 EET (UTC+2), at 01:00 UTC.

TEST(QuietUntil, SpringForwardEndSkippedReleasesAtTheJump) {
  // 03:30 does not exist on 2026-03-29: the window ends when 03:00 EET
  // becomes 04:00 EEST, 01:00 UTC.
  // 02:00 EET, exactly the start.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-03-29T00:00:00Z"),
            "2026-03-29T01:00:00Z");
  // 02:59:59 EET.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-03-29T00:59:59Z"),
            "2026-03-29T01:00:00Z");
  // 04:00 EEST.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-03-29T01:00:00Z"), "outside");
  // 01:59:59 EET.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-03-28T23:59:59Z"), "outside");
  // The day before, no gap: 03:30 EET = 01:30 UTC.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-03-28T00:30:00Z"),
            "2026-03-28T01:30:00Z");
}

TEST(QuietUntil, SpringForwardStartSkippedStartsAtTheJump) {
  // 03:15 does not exist: the window starts at the jump (04:00 EEST, 01:00
  // UTC) and ends at 05:00 EEST, 02:00 UTC.
  EXPECT_EQ(Until("03:15-05:00", "Europe/Bucharest", "2026-03-29T00:59:59Z"), "outside");
  EXPECT_EQ(Until("03:15-05:00", "Europe/Bucharest", "2026-03-29T01:00:00Z"),
            "2026-03-29T02:00:00Z");
}

TEST(QuietUntil, SpringForwardOvernight) {
  // 22:00 EET Mar 28 -> 08:00 EEST Mar 29 = 05:00 UTC (the night is an hour short).
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-03-28T20:00:00Z"),
            "2026-03-29T05:00:00Z");
  // 21:00 EET Mar 28 = 19:00 UTC, exactly the start.
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-03-28T19:00:00Z"),
            "2026-03-29T05:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-03-29T05:00:00Z"), "outside");
  // The next night is in summer time: 21:00 EEST Mar 29 = 18:00 UTC, until 05:00 UTC.
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-03-29T18:00:00Z"),
            "2026-03-30T05:00:00Z");
}

TEST(QuietUntil, FallBackOvernight) {
  // 23:00 EEST Oct 24 -> 08:00 EET Oct 25 = 06:00 UTC (the night is an hour long).
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-24T20:00:00Z"),
            "2026-10-25T06:00:00Z");
  // 21:00 EEST Oct 24 = 18:00 UTC, exactly the start; a second before is outside.
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-24T18:00:00Z"),
            "2026-10-25T06:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-24T17:59:59Z"), "outside");
  // Inside the repeated hour, both times: 03:30 EEST (00:30 UTC), 03:30 EET (01:30 UTC).
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-25T00:30:00Z"),
            "2026-10-25T06:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-25T01:30:00Z"),
            "2026-10-25T06:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-25T05:59:59Z"),
            "2026-10-25T06:00:00Z");
  EXPECT_EQ(Until("21:00-08:00", "Europe/Bucharest", "2026-10-25T06:00:00Z"), "outside");
}

TEST(QuietUntil, FallBackEndRepeatedReleasesAtTheFirst) {
  // 03:30 happens twice on 2026-10-25: first at 03:30 EEST = 00:30 UTC.
  // 02:00 EEST Oct 25 = 23:00 UTC Oct 24, exactly the start.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-10-24T23:00:00Z"),
            "2026-10-25T00:30:00Z");
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-10-25T00:29:59Z"),
            "2026-10-25T00:30:00Z");
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-10-25T00:30:00Z"), "outside");
  // 03:10 EET, the second pass: the wall clock is inside 02:00-03:30 again,
  // but this window already ended.
  EXPECT_EQ(Until("02:00-03:30", "Europe/Bucharest", "2026-10-25T01:10:00Z"), "outside");
}

TEST(QuietUntil, FallBackStartRepeatedStartsAtTheFirst) {
  // 03:30 EEST = 00:30 UTC starts it; 06:00 EET = 04:00 UTC ends it.
  EXPECT_EQ(Until("03:30-06:00", "Europe/Bucharest", "2026-10-25T00:29:59Z"), "outside");
  EXPECT_EQ(Until("03:30-06:00", "Europe/Bucharest", "2026-10-25T00:30:00Z"),
            "2026-10-25T04:00:00Z");
  // 03:10 EET, the second pass: the wall clock is before 03:30 again, but the
  // window started at the first 03:30.
  EXPECT_EQ(Until("03:30-06:00", "Europe/Bucharest", "2026-10-25T01:10:00Z"),
            "2026-10-25T04:00:00Z");
}

TEST(QuietUntil, FallBackAtMidnight) {
  // Asia/Beirut goes back at midnight: at the end of 2026-10-24, 24:00 EEST
  // (UTC+3) becomes 23:00 EET (UTC+2) of the same day, at 21:00 UTC. The wall
  // clock shows Oct 24 23:xx twice and Oct 25 00:00 only once, at 22:00 UTC.
  // 23:59:59 EEST, then 23:00 and 23:30 EET: before a 00:00 start each time.
  EXPECT_EQ(Until("00:00-06:00", "Asia/Beirut", "2026-10-24T20:59:59Z"), "outside");
  EXPECT_EQ(Until("00:00-06:00", "Asia/Beirut", "2026-10-24T21:00:00Z"), "outside");
  EXPECT_EQ(Until("00:00-06:00", "Asia/Beirut", "2026-10-24T21:30:00Z"), "outside");
  // 00:00 EET Oct 25 until 06:00 EET = 04:00 UTC.
  EXPECT_EQ(Until("00:00-06:00", "Asia/Beirut", "2026-10-24T22:00:00Z"), "2026-10-25T04:00:00Z");
  EXPECT_EQ(Until("00:00-06:00", "Asia/Beirut", "2026-10-25T04:00:00Z"), "outside");
  // A window ending at midnight runs through the repeated hour: the clock
  // reads 00:00 at 22:00 UTC, so 22:00-00:00 is three hours long that night.
  // 22:00 EEST = 19:00 UTC, then 23:00 EET (second pass) = 21:00 UTC.
  EXPECT_EQ(Until("22:00-00:00", "Asia/Beirut", "2026-10-24T19:00:00Z"), "2026-10-24T22:00:00Z");
  EXPECT_EQ(Until("22:00-00:00", "Asia/Beirut", "2026-10-24T21:00:00Z"), "2026-10-24T22:00:00Z");
  EXPECT_EQ(Until("22:00-00:00", "Asia/Beirut", "2026-10-24T22:00:00Z"), "outside");
}

// ---- the zone cache --------------------------------------------------------------

TEST(TimeZones, FindsIanaZonesAndLoadsEachOnce) {
  TimeZones zones;
  auto first = zones.Find("Europe/Bucharest");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->name(), "Europe/Bucharest");
  auto again = zones.Find("Europe/Bucharest");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *first);
  EXPECT_TRUE(zones.Valid("UTC"));
  EXPECT_TRUE(zones.Valid("Etc/UTC"));
  EXPECT_TRUE(zones.Valid("America/New_York"));
  EXPECT_TRUE(zones.Valid("America/Argentina/Buenos_Aires"));
}

TEST(TimeZones, UnknownNamesAreNotFound) {
  TimeZones zones;
  for (const char* name : {
           "Mars/Olympus_Mons",
           "Europe/Bucharestt",
           "europe/bucharest",  // the database is case-sensitive on Linux
           "Europe",            // a directory
           "leapseconds",       // a file in the directory, not a zone
           "localtime",         // the host's zone, not a recipient's
           "../etc/passwd",
           "/etc/passwd",
           "Europe/../Europe/Bucharest",
           "Europe//Bucharest",
           "Europe/Bucharest/",
           "",
           "Fixed/UTC+05:00",
       }) {
    EXPECT_FALSE(zones.Find(name)) << name;
    EXPECT_FALSE(zones.Valid(name)) << name;
  }
  // Asking again gives the same answer (no negative entry made it positive).
  EXPECT_FALSE(zones.Valid("Mars/Olympus_Mons"));
}

TEST(TimeZones, SharedByThreads) {
  TimeZones zones;
  const std::vector<const char*> names = {"Europe/Bucharest", "Asia/Kolkata", "America/New_York",
                                          "Mars/Olympus_Mons"};
  std::vector<std::thread> threads;
  std::vector<int> found(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        if (zones.Find(names[static_cast<std::size_t>(i) % names.size()])) ++found[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(found[t], 750) << "thread " << t;
  EXPECT_EQ(zones.Find("Asia/Kolkata")->name(), "Asia/Kolkata");
}

}  // namespace
}  // namespace omnigate::policy
