#include "common/mask.h"

#include <gtest/gtest.h>

namespace omnigate {
namespace {

TEST(MaskPhone, KeepsCountryPrefixAndLastDigits) {
  EXPECT_EQ(MaskPhone("+40700000001"), "+4070****001");
  EXPECT_EQ(MaskPhone("0700123456"), "0700***456");
  EXPECT_EQ(MaskPhone("12345"), "*****");
}

TEST(MaskEmail, KeepsFirstLetterAndDomain) {
  EXPECT_EQ(MaskEmail("ana.maria@example.com"), "a***@example.com");
  EXPECT_EQ(MaskEmail("x@y.io"), "x***@y.io");
  EXPECT_EQ(MaskEmail("no-at-sign"), "**********");
  EXPECT_EQ(MaskEmail("@example.com"), "************");
}

TEST(MaskAddress, PicksByShape) {
  EXPECT_EQ(MaskAddress("bob@example.com"), "b***@example.com");
  EXPECT_EQ(MaskAddress("+40700000001"), "+4070****001");
}

TEST(MaskPiiInText, MasksEveryPhoneAndEmailInFreeText) {
  const std::string in =
      R"({"code":21211,"message":"The 'To' number +40700000001 is not valid","to":"ana@example.com"})";
  const std::string out = MaskPiiInText(in);
  EXPECT_EQ(out.find("+40700000001"), std::string::npos) << out;
  EXPECT_EQ(out.find("ana@example.com"), std::string::npos) << out;
  EXPECT_NE(out.find("+4070****001"), std::string::npos) << out;
  EXPECT_NE(out.find("a***@example.com"), std::string::npos) << out;
  // Short numbers such as error codes stay readable.
  EXPECT_NE(out.find("21211"), std::string::npos) << out;
}

TEST(MaskPiiInText, MasksNumbersWithSeparators) {
  const std::string out = MaskPiiInText("call 0700 123 456 now");
  EXPECT_EQ(out.find("123 456"), std::string::npos) << out;
  EXPECT_EQ(out.substr(0, 5), "call ");
}

TEST(MaskPiiInText, LeavesIdentifiersAlone) {
  // Digits glued to letters (ids, sids) are not phone numbers.
  EXPECT_EQ(MaskPiiInText("SM1234567890abcdef"), "SM1234567890abcdef");
}

}  // namespace
}  // namespace omnigate
