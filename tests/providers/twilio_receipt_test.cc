#include "providers/twilio/twilio_receipt.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "providers/twilio/twilio_provider.h"
#include "tests/providers/receipt_signer.h"

namespace omnigate::providers {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr char kToken[] = "9f3c1e7a5b2d4c6e8f0a1b3c5d7e9f11";
constexpr char kPublicUrl[] = "https://gw.example.com/";
constexpr char kTarget[] = "/v1/receipts/sms-main?tenant=shop-ro";
constexpr char kFullUrl[] = "https://gw.example.com/v1/receipts/sms-main?tenant=shop-ro";

std::string Form(const Params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    AppendFormEncoded(name, out);
    out += '=';
    AppendFormEncoded(value, out);
  }
  return out;
}

// What Twilio posts when a message reaches the handset, in Twilio's order.
Params Delivered() {
  return {{"SmsSid", "SM5e1a8f5b0d3c4e6f8a9b0c1d2e3f4a5b"},
          {"SmsStatus", "delivered"},
          {"MessageStatus", "delivered"},
          {"To", "+40700000001"},
          {"MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"},
          {"MessageSid", "SM5e1a8f5b0d3c4e6f8a9b0c1d2e3f4a5b"},
          {"AccountSid", "AC0123456789abcdef0123456789abcdef"},
          {"From", "Shop & Co"},
          {"RawDlrDoneDate", "2611221000"},
          {"ApiVersion", "2010-04-01"}};
}

std::vector<FormField> Fields(const Params& params) { return {params.begin(), params.end()}; }

TEST(TwilioSignature, ReproducesTwilioDocumentedExample) {
  // The example of Twilio's request-validation guide (twilio-php's
  // docs/usage/validation.rst; the twilio-node tests use it too).
  const Params params = {{"CallSid", "CA1234567890ABCDE"},
                         {"Caller", "+14158675309"},
                         {"Digits", "1234"},
                         {"From", "+14158675309"},
                         {"To", "+18005551212"}};
  EXPECT_EQ(ComputeTwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                                   Fields(params)),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  // The order the fields arrive in does not matter.
  const Params reversed(params.rbegin(), params.rend());
  EXPECT_EQ(ComputeTwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                                   Fields(reversed)),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST(TwilioSignature, SignedUrlJoinsTheConfiguredBaseAndTheRequestTarget) {
  EXPECT_EQ(TwilioSignedUrl(kPublicUrl, kTarget), kFullUrl);
  EXPECT_EQ(TwilioSignedUrl("https://gw.example.com", kTarget), kFullUrl);
  EXPECT_EQ(TwilioSignedUrl("https://gw.example.com/og", "/v1/receipts/a"),
            "https://gw.example.com/og/v1/receipts/a");
}

TEST(TwilioReceipt, MissingSignatureIsRefusedBeforeAnythingElse) {
  const auto r = ParseTwilioStatusCallback(Form(Delivered()), "", "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("X-Twilio-Signature"), std::string::npos) << r.error().reason;
}

TEST(TwilioReceipt, NoConfiguredTokenRefusesEverything) {
  const auto r = ParseTwilioStatusCallback(Form(Delivered()), "c2lnbmF0dXJl", "", kFullUrl, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("auth_token"), std::string::npos) << r.error().reason;
}

TEST(TwilioReceipt, BodyThatIsNotAFormIs400) {
  const auto r = ParseTwilioStatusCallback("MessageSid=SM1&MessageStatus=sent%2", "c2lnbmF0dXJl",
                                           "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().reason.find("x-www-form-urlencoded"), std::string::npos);
}

struct StatusCase {
  const char* message_status;
  ReceiptStatus expected;
};

TEST(TwilioReceiptMapping, EveryMessageStatus) {
  const StatusCase cases[] = {
      {"queued", ReceiptStatus::sent},    {"accepted", ReceiptStatus::sent},
      {"scheduled", ReceiptStatus::sent}, {"sending", ReceiptStatus::sent},
      {"sent", ReceiptStatus::sent},      {"delivered", ReceiptStatus::delivered},
      {"read", ReceiptStatus::read},      {"undelivered", ReceiptStatus::undelivered},
      {"failed", ReceiptStatus::failed},  {"canceled", ReceiptStatus::failed},
  };
  for (const auto& c : cases) {
    const auto r =
        ParseTwilioStatusFields({{"MessageSid", "SM1"}, {"MessageStatus", c.message_status}}, "");
    ASSERT_TRUE(r) << c.message_status << ": " << r.error().reason;
    ASSERT_EQ(r->size(), 1u) << c.message_status;
    EXPECT_EQ(r->front().status, c.expected) << c.message_status;
    EXPECT_EQ(r->front().raw_status, c.message_status);
    EXPECT_EQ(r->front().provider_message_id, "SM1");
    EXPECT_TRUE(r->front().suppress_reason.empty());
    EXPECT_TRUE(r->front().dedup_key.empty());
    EXPECT_EQ(r->front().timestamp_ms, 0);
  }
}

TEST(TwilioReceiptMapping, InboundStatusesAreNotReceipts) {
  for (const char* status : {"receiving", "received", "some_future_status"}) {
    const auto r = ParseTwilioStatusFields({{"MessageSid", "SM1"}, {"MessageStatus", status}}, "");
    ASSERT_TRUE(r) << status;
    EXPECT_TRUE(r->empty()) << status;
  }
}

TEST(TwilioReceiptMapping, ErrorCodeIsKeptAndStopAddsASuppression) {
  auto r = ParseTwilioStatusFields({{"MessageSid", "SM1"},
                                    {"MessageStatus", "undelivered"},
                                    {"ErrorCode", "30003"},
                                    {"To", "+40700000001"}},
                                   "tok-1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::undelivered);
  EXPECT_EQ(r->front().error_code, "30003");
  EXPECT_TRUE(r->front().suppress_reason.empty());
  EXPECT_EQ(r->front().address, "+40700000001");
  EXPECT_EQ(r->front().dedup_key, "tok-1");

  r = ParseTwilioStatusFields(
      {{"MessageSid", "SM2"}, {"MessageStatus", "failed"}, {"ErrorCode", "21610"}}, "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::failed);
  EXPECT_EQ(r->front().suppress_reason, "sms_stop");
}

TEST(TwilioReceiptMapping, MissingFieldsAreNamed) {
  struct Case {
    Params params;
    const char* field;
  };
  const Case cases[] = {
      {{{"MessageStatus", "sent"}}, "MessageSid"},
      {{{"MessageSid", ""}, {"MessageStatus", "sent"}}, "MessageSid"},
      {{{"MessageSid", "SM1"}}, "MessageStatus"},
      {{{"MessageSid", "SM1"}, {"MessageStatus", ""}}, "MessageStatus"},
  };
  for (const auto& c : cases) {
    const auto r = ParseTwilioStatusFields(Fields(c.params), "");
    ASSERT_FALSE(r) << c.field;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().reason.find(c.field), std::string::npos) << r.error().reason;
  }
}

// Signatures made by the twilio npm package (getExpectedTwilioSignature, and
// validateRequest agreeing with it).
class TwilioReceiptSigned : public peers::NodeSignedTest {
 protected:
  std::string Sign(const Params& params, std::string_view token = kToken,
                   std::string_view url = kFullUrl) {
    const auto results = peers::SignWithNode({peers::TwilioJob(token, url, params)});
    if (results.size() != 1) return "no-signature";
    EXPECT_EQ(results[0].at("valid"), "true") << "validateRequest disagrees";
    return results[0].at("signature");
  }
};

TEST_F(TwilioReceiptSigned, AcceptsACallbackSignedByTwilioLibrary) {
  const std::string signature = Sign(Delivered());
  const auto r = ParseTwilioStatusCallback(Form(Delivered()), signature, "9c5a2d0e-idem-token",
                                           TwilioSignedUrl(kPublicUrl, kTarget), kToken);
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  const Receipt& receipt = r->front();
  EXPECT_EQ(receipt.provider_message_id, "SM5e1a8f5b0d3c4e6f8a9b0c1d2e3f4a5b");
  EXPECT_EQ(receipt.status, ReceiptStatus::delivered);
  EXPECT_EQ(receipt.raw_status, "delivered");
  EXPECT_EQ(receipt.dedup_key, "9c5a2d0e-idem-token");
  EXPECT_EQ(receipt.address, "+40700000001");
  EXPECT_TRUE(receipt.request_id.empty());
  EXPECT_TRUE(receipt.error_code.empty());
  EXPECT_TRUE(receipt.suppress_reason.empty());
}

TEST_F(TwilioReceiptSigned, SortsNamesBytewiseAndRepeatedValuesLikeTwilio) {
  // Upper case sorts before lower case; a repeated name's values are sorted;
  // a pair sent twice counts once; spaces, '+' and UTF-8 survive the form
  // decoding.
  const Params params = {{"b", "2"},   {"MessageStatus", "sent"}, {"a", "z"}, {"MessageSid", "SM9"},
                         {"a", "y y"}, {"Body", "Grüße +1 ✓"},    {"B", "1"}, {"a", "z"}};
  const std::string signature = Sign(params);
  EXPECT_EQ(ComputeTwilioSignature(kToken, kFullUrl, Fields(params)), signature);
  const auto r = ParseTwilioStatusCallback(Form(params), signature, "", kFullUrl, kToken);
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->size(), 1u);
}

TEST_F(TwilioReceiptSigned, AcceptsTheUrlWithOrWithoutTheDefaultPort) {
  const std::string with_port =
      Sign(Delivered(), kToken, "https://gw.example.com:443/v1/receipts/sms-main?tenant=shop-ro");
  auto r = ParseTwilioStatusCallback(Form(Delivered()), with_port, "", kFullUrl, kToken);
  EXPECT_TRUE(r) << r.error().reason;
  const std::string without_port = Sign(Delivered());
  r = ParseTwilioStatusCallback(Form(Delivered()), without_port, "",
                                "https://gw.example.com:443/v1/receipts/sms-main?tenant=shop-ro",
                                kToken);
  EXPECT_TRUE(r) << r.error().reason;
}

TEST_F(TwilioReceiptSigned, RefusesATamperedBody) {
  const std::string signature = Sign(Delivered());
  Params tampered = Delivered();
  tampered[2].second = "undelivered";
  const auto r = ParseTwilioStatusCallback(Form(tampered), signature, "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("does not match"), std::string::npos) << r.error().reason;

  Params extra = Delivered();
  extra.emplace_back("ErrorCode", "21610");
  EXPECT_EQ(
      ParseTwilioStatusCallback(Form(extra), signature, "", kFullUrl, kToken).error().http_status,
      401);
}

TEST_F(TwilioReceiptSigned, RefusesAnotherAuthTokenOrAnotherUrl) {
  const std::string signature = Sign(Delivered(), "another-accounts-token");
  auto r = ParseTwilioStatusCallback(Form(Delivered()), signature, "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);

  const std::string good = Sign(Delivered());
  r = ParseTwilioStatusCallback(Form(Delivered()), good, "",
                                "https://gw.example.com/v1/receipts/sms-backup?tenant=shop-ro",
                                kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  // One character off.
  std::string flipped = good;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  r = ParseTwilioStatusCallback(Form(Delivered()), flipped, "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
}

TEST_F(TwilioReceiptSigned, SignedButIncompleteCallbackIs400NamingTheField) {
  const Params no_sid = {{"MessageStatus", "delivered"}, {"To", "+40700000001"}};
  auto r = ParseTwilioStatusCallback(Form(no_sid), Sign(no_sid), "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().reason.find("MessageSid"), std::string::npos) << r.error().reason;

  const Params no_status = {{"MessageSid", "SM1"}, {"SmsStatus", "delivered"}};
  r = ParseTwilioStatusCallback(Form(no_status), Sign(no_status), "", kFullUrl, kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().reason.find("MessageStatus"), std::string::npos) << r.error().reason;
}

}  // namespace
}  // namespace omnigate::providers
