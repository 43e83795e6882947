#include "providers/twilio/sms_segments.h"

#include <gtest/gtest.h>

#include <string>

namespace omnigate::providers {
namespace {

std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

TEST(SmsSegments, Gsm7SingleAndConcatenatedBoundaries) {
  EXPECT_EQ(CountSmsSegments("").segments, 1);
  auto one = CountSmsSegments(Repeat("a", 160));
  EXPECT_EQ(one.encoding, SmsEncoding::gsm7);
  EXPECT_EQ(one.units, 160);
  EXPECT_EQ(one.segments, 1);
  EXPECT_EQ(CountSmsSegments(Repeat("a", 161)).segments, 2);
  EXPECT_EQ(CountSmsSegments(Repeat("a", 306)).segments, 2);
  EXPECT_EQ(CountSmsSegments(Repeat("a", 307)).segments, 3);
}

TEST(SmsSegments, ExtensionCharactersCostTwoSeptetsAndAreNotSplit) {
  auto euro = CountSmsSegments(Repeat("€", 80));
  EXPECT_EQ(euro.encoding, SmsEncoding::gsm7);
  EXPECT_EQ(euro.units, 160);
  EXPECT_EQ(euro.segments, 1);
  EXPECT_EQ(CountSmsSegments(Repeat("{", 81)).segments, 2);
  // 152 septets then an escape pair: the pair moves whole to the next part.
  auto split = CountSmsSegments(Repeat("a", 152) + "€" + Repeat("a", 152));
  EXPECT_EQ(split.units, 306);
  EXPECT_EQ(split.segments, 3) << "naive 306/153 would say 2";
}

TEST(SmsSegments, GsmAccentedLettersStayGsm7) {
  auto r = CountSmsSegments("Ça coûte 5€? Ñoño é à ü ß ¿¡ Δ");
  // 'û' is not in GSM 03.38.
  EXPECT_EQ(r.encoding, SmsEncoding::ucs2);
  EXPECT_EQ(CountSmsSegments("Ça coute 5€? Ñoño é à ü ß ¿¡ Δ").encoding, SmsEncoding::gsm7);
}

TEST(SmsSegments, NonGsmTextIsUcs2WithSeventyAndSixtySeven) {
  auto ro = CountSmsSegments("Comanda ta ajunge mâine, ști?");
  EXPECT_EQ(ro.encoding, SmsEncoding::ucs2);
  EXPECT_EQ(ro.units, 29);
  EXPECT_EQ(ro.segments, 1);
  EXPECT_EQ(CountSmsSegments(Repeat("я", 70)).segments, 1);
  EXPECT_EQ(CountSmsSegments(Repeat("я", 71)).segments, 2);
  EXPECT_EQ(CountSmsSegments(Repeat("я", 134)).segments, 2);
  EXPECT_EQ(CountSmsSegments(Repeat("я", 135)).segments, 3);
}

TEST(SmsSegments, SurrogatePairsCountTwoUnitsAndAreNotSplit) {
  auto emoji = CountSmsSegments(Repeat("😀", 35));
  EXPECT_EQ(emoji.units, 70);
  EXPECT_EQ(emoji.segments, 1);
  // 66 units, then a pair that would straddle the 67-unit boundary.
  auto r = CountSmsSegments(Repeat("я", 66) + "😀" + Repeat("я", 66));
  EXPECT_EQ(r.units, 134);
  EXPECT_EQ(r.segments, 3) << "naive 134/67 would say 2";
}

TEST(SmsSegments, InvalidUtf8CountsAsUcs2) {
  auto r = CountSmsSegments(std::string("ab\xff", 3));
  EXPECT_EQ(r.encoding, SmsEncoding::ucs2);
  EXPECT_EQ(r.units, 3);
}

}  // namespace
}  // namespace omnigate::providers
