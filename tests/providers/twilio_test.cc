#include "providers/twilio/twilio_provider.h"
#include "tests/providers/fake_response.h"

#include <gtest/gtest.h>

namespace omnigate::providers {
namespace {

TEST(TwilioForm, MatchesTheDocumentedParameters) {
  TwilioConfig cfg;
  cfg.from = "+15005550006";
  cfg.status_callback = "https://gw.example.com/v1/receipts/sms-main";
  cfg.validity_period = std::chrono::hours(4);
  const std::string form =
      TwilioProvider::BuildForm(cfg, {.to = "+40700000001", .text = "Hi Ana & co: 100% ok?"});
  EXPECT_EQ(form,
            "To=%2B40700000001&Body=Hi+Ana+%26+co%3A+100%25+ok%3F&From=%2B15005550006"
            "&StatusCallback=https%3A%2F%2Fgw.example.com%2Fv1%2Freceipts%2Fsms-main"
            "&ValidityPeriod=14400");
}

TEST(TwilioForm, MessagingServiceAndPerRequestSender) {
  TwilioConfig cfg;
  cfg.messaging_service_sid = "MG0123456789abcdef0123456789abcdef";
  EXPECT_EQ(TwilioProvider::BuildForm(cfg, {.to = "+1", .text = "x"}),
            "To=%2B1&Body=x&MessagingServiceSid=MG0123456789abcdef0123456789abcdef");
  EXPECT_EQ(TwilioProvider::BuildForm(cfg, {.to = "+1", .text = "x", .sender = "Shop"}),
            "To=%2B1&Body=x&From=Shop&MessagingServiceSid=MG0123456789abcdef0123456789abcdef");
}

TEST(TwilioForm, Utf8IsPercentEncodedBytewise) {
  TwilioConfig cfg;
  cfg.from = "Shop";
  EXPECT_EQ(TwilioProvider::BuildForm(cfg, {.to = "+1", .text = "mâine"}),
            "To=%2B1&Body=m%C3%A2ine&From=Shop");
}

TEST(TwilioMapping, CreatedWithSidIsAccepted) {
  auto r = TwilioProvider::MapResponse(
      Status(201, R"({"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"})"));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.provider_message_id, "SM0123456789abcdef0123456789abcdef");
}

TEST(TwilioMapping, CreatedWithoutSidIsStillAcceptedButFlagged) {
  auto r = TwilioProvider::MapResponse(Status(201, "not json"));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.reason, "no_sid_in_response");
}

TEST(TwilioMapping, InvalidNumberCodesAreInvalidAddress) {
  for (int code : {21211, 21614, 21612, 21408}) {
    auto r = TwilioProvider::MapResponse(
        Status(400, R"({"code":)" + std::to_string(code) + R"(,"message":"x","status":400})"));
    EXPECT_EQ(r.status, SendStatus::invalid_address) << code;
    EXPECT_EQ(r.reason, "twilio_" + std::to_string(code));
  }
}

TEST(TwilioMapping, OtherClientErrorsArePermanentWithTheirCode) {
  auto r = TwilioProvider::MapResponse(Status(400, R"({"code":21610,"message":"unsubscribed"})"));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "twilio_21610");
  auto nobody = TwilioProvider::MapResponse(Status(404, "<html>"));
  EXPECT_EQ(nobody.status, SendStatus::permanent);
  EXPECT_EQ(nobody.reason, "http_404");
}

TEST(TwilioMapping, AuthFailuresArePermanent) {
  EXPECT_EQ(TwilioProvider::MapResponse(Status(401, R"({"code":20003})")).reason, "auth");
  EXPECT_EQ(TwilioProvider::MapResponse(Status(403)).status, SendStatus::permanent);
}

TEST(TwilioMapping, TooManyRequestsIsThrottledWithRetryAfter) {
  auto r = TwilioProvider::MapResponse(Status(429, R"({"code":20429})", {{"retry-after", "7"}}));
  EXPECT_EQ(r.status, SendStatus::throttled);
  EXPECT_EQ(r.retry_after, std::chrono::seconds(7));
  auto no_header = TwilioProvider::MapResponse(Status(429));
  EXPECT_EQ(no_header.retry_after, std::chrono::seconds(1));
}

TEST(TwilioMapping, ServerErrorsAreRetried) {
  for (long s : {500L, 502L, 503L, 504L}) {  // NOLINT(google-runtime-int)
    auto r = TwilioProvider::MapResponse(Status(s));
    EXPECT_EQ(r.status, SendStatus::retry) << s;
    EXPECT_EQ(r.reason, "http_" + std::to_string(s));
  }
}

TEST(TwilioMapping, TransportErrorsRetryExceptTls) {
  EXPECT_EQ(TwilioProvider::MapResponse(Failed(http::TransportError::timeout)).status,
            SendStatus::retry);
  EXPECT_EQ(TwilioProvider::MapResponse(Failed(http::TransportError::connect)).status,
            SendStatus::retry);
  EXPECT_EQ(TwilioProvider::MapResponse(Failed(http::TransportError::dns)).status,
            SendStatus::retry);
  auto tls = TwilioProvider::MapResponse(Failed(http::TransportError::tls));
  EXPECT_EQ(tls.status, SendStatus::permanent);
  EXPECT_EQ(tls.reason, "tls");
}

}  // namespace
}  // namespace omnigate::providers
