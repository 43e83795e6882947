#include "common/duration.h"

#include <gtest/gtest.h>

namespace omnigate {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(ParseDuration("10m"), milliseconds(600'000));
  EXPECT_EQ(ParseDuration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(ParseDuration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDuration, RejectsMalformedInput) {
  for (const char* bad : {"", "s", "10", "-1s", "1.5s", "10 s", "10sec", "1w", "ms10",
                          "99999999999999999999d", "+5s"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_FALSE(ParseDuration("106751991168d").has_value());
  EXPECT_TRUE(ParseDuration("106751991167d").has_value());
}

TEST(FormatDuration, UsesLargestExactUnitAndRoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h");
  for (const char* s : {"1d", "3h", "7m", "59s", "1ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
}

}  // namespace
}  // namespace omnigate
