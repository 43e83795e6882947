#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace omnigate {
namespace {

// RFC 4648 §10's test vectors, both ways.
TEST(Base64, RoundTripsTheRfcVectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out;
    AppendBase64(plain, out);
    EXPECT_EQ(out, encoded);
    EXPECT_EQ(DecodeBase64(encoded), plain) << encoded;
  }
  EXPECT_EQ(DecodeBase64("b21uaWdhdGU6czNjcjN0"), "omnigate:s3cr3t");
}

TEST(Base64, RefusesWhatIsNotCanonicalBase64) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zm9v!mFy", "Zg==Zg==", "Zm=v", "Zm9vYmFy\n"}) {
    EXPECT_FALSE(DecodeBase64(bad)) << bad;
  }
}

TEST(PercentDecode, DecodesEscapesAndOptionallyPlus) {
  EXPECT_EQ(PercentDecode("a%20b%2Bc+d", true), "a b+c d");
  EXPECT_EQ(PercentDecode("a%20b%2Bc+d", false), "a b+c+d");
  EXPECT_EQ(PercentDecode("%e2%9C%93", true), "\xe2\x9c\x93");
  EXPECT_EQ(PercentDecode("", true), "");
  for (const char* bad : {"%", "%4", "a%g1", "%%41", "x%2"}) {
    EXPECT_FALSE(PercentDecode(bad, true)) << bad;
  }
}

TEST(DecodeForm, KeepsOrderRepeatsAndEmptyValues) {
  const auto form = DecodeForm("To=%2B40700000001&Body=Hi+Ana+%26+co&&flag&To=x&=v&e=");
  ASSERT_TRUE(form);
  const std::vector<FormField> expected = {
      {"To", "+40700000001"}, {"Body", "Hi Ana & co"}, {"flag", ""}, {"To", "x"}, {"", "v"},
      {"e", ""}};
  EXPECT_EQ(*form, expected);
  EXPECT_EQ(DecodeForm("")->size(), 0u);
  EXPECT_EQ(DecodeForm("a=1=2")->at(0), (FormField{"a", "1=2"}));
  EXPECT_FALSE(DecodeForm("a=1&b=%zz"));
  EXPECT_FALSE(DecodeForm("%=1"));
}

}  // namespace
}  // namespace omnigate
