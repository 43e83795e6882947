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


TEST(PercentDecode, DecodesEscapesAndFormSpaces) {
  EXPECT_EQ(PercentDecode("a%2Cb%25c%2b", false), "a,b%c+");
  EXPECT_EQ(PercentDecode("Hello+World", true), "Hello World");
  EXPECT_EQ(PercentDecode("Hello+World", false), "Hello+World");
  EXPECT_EQ(PercentDecode("", true), "");
  EXPECT_EQ(PercentDecode("%e2%9c%93", false), "\xe2\x9c\x93");
}

TEST(PercentDecode, RefusesATruncatedOrNonHexEscape) {
  EXPECT_EQ(PercentDecode("%", false), std::nullopt);
  EXPECT_EQ(PercentDecode("abc%4", false), std::nullopt);
  EXPECT_EQ(PercentDecode("%zz", false), std::nullopt);
  EXPECT_EQ(PercentDecode("%4g", false), std::nullopt);
}

}  // namespace
}  // namespace omnigate
