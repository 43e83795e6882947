#include <gtest/gtest.h>
#include <simdjson.h>

#include <boost/asio/io_context.hpp>
#include <ctime>
#include <optional>
#include <string>

#include "providers/sendgrid/sendgrid_provider.h"
#include "tests/providers/fake_response.h"

namespace omnigate::providers {
namespace {

// Parses `json`, failing the test when it is not valid JSON.
class Json {
 public:
  explicit Json(const std::string& json) {
    const auto error = parser_.parse(json).get(root_);
    EXPECT_EQ(error, simdjson::SUCCESS) << json;
    ok_ = error == simdjson::SUCCESS;
  }
  bool ok() const { return ok_; }
  bool Has(std::string_view pointer) const {
    simdjson::dom::element e;
    return ok_ && root_.at_pointer(pointer).get(e) == simdjson::SUCCESS;
  }
  std::string Str(std::string_view pointer) const {
    std::string_view s;
    if (!ok_ || root_.at_pointer(pointer).get(s) != simdjson::SUCCESS) {
      ADD_FAILURE() << "no string at " << pointer;
      return {};
    }
    return std::string(s);
  }
  std::size_t Size(std::string_view pointer) const {
    simdjson::dom::array a;
    if (!ok_ || root_.at_pointer(pointer).get(a) != simdjson::SUCCESS) {
      ADD_FAILURE() << "no array at " << pointer;
      return 0;
    }
    return a.size();
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

SendGridConfig Config() {
  SendGridConfig cfg;
  cfg.api_key = "SG.test";
  cfg.from = "Shop <noreply@shop.example>";
  return cfg;
}

std::string Body(const SendGridConfig& cfg, const EmailMessage& email,
                 std::string_view id = "req-1") {
  auto body = SendGridProvider::BuildBody(cfg, email, id);
  EXPECT_TRUE(body.has_value()) << body.error();
  return body ? *body : std::string();
}

TEST(SendGridBody, ExactDocumentForAFullMessage) {
  SendGridConfig cfg = Config();
  cfg.category = "omnigate";
  const std::string body = Body(cfg, {.to = "ana@example.com",
                                      .from = "Shop <noreply@shop.example>",
                                      .subject = "Hi",
                                      .text = "t",
                                      .html = "<b>h</b>",
                                      .unsubscribe_url = "https://shop.example/u/1"});
  EXPECT_EQ(
      body,
      R"({"personalizations":[{"to":[{"email":"ana@example.com"}],)"
      R"("custom_args":{"omnigate_id":"req-1"}}],)"
      R"("from":{"email":"noreply@shop.example","name":"Shop"},"subject":"Hi",)"
      R"("content":[{"type":"text/plain","value":"t"},{"type":"text/html","value":"<b>h</b>"}],)"
      R"("headers":{"List-Unsubscribe":"<https://shop.example/u/1>",)"
      R"("List-Unsubscribe-Post":"List-Unsubscribe=One-Click"},"categories":["omnigate"]})");
}

// The List-Unsubscribe value holds exactly one target, whatever the URL holds.
TEST(SendGridBody, UnsubscribeUrlCannotAddASecondTarget) {
  const std::string body = Body(Config(), {.to = "ana@example.com",
                                           .from = "Shop <noreply@shop.example>",
                                           .subject = "Hi",
                                           .text = "t",
                                           .unsubscribe_url = "https://shop.example/u>,<mailto:x@evil.example"});
  EXPECT_NE(body.find(R"("List-Unsubscribe":"<https://shop.example/u%3E%2C%3Cmailto:x@evil.example>")"),
            std::string::npos)
      << body;
}

TEST(SendGridBody, FieldsFollowTheV3MailSendFormat) {
  const std::string subject = "Grüße ✓ — 日本語 🍉";
  const std::string body = Body(Config(),
                                {.to = "ana@example.com",
                                 .from = "\"Shop, Inc.\" <sales@shop.example>",
                                 .subject = subject,
                                 .text = "plain",
                                 .html = "<p>html</p>"},
                                "0190a2b4-7c1e-7d4f-9a2b-3c4d5e6f7a8b");
  Json doc(body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc.Size("/personalizations"), 1u);
  EXPECT_EQ(doc.Size("/personalizations/0/to"), 1u);
  EXPECT_EQ(doc.Str("/personalizations/0/to/0/email"), "ana@example.com");
  EXPECT_EQ(doc.Str("/personalizations/0/custom_args/omnigate_id"),
            "0190a2b4-7c1e-7d4f-9a2b-3c4d5e6f7a8b");
  EXPECT_EQ(doc.Str("/from/email"), "sales@shop.example");
  EXPECT_EQ(doc.Str("/from/name"), "Shop, Inc.");
  EXPECT_EQ(doc.Str("/subject"), subject);
  // Unicode goes out as UTF-8, not as \u escapes.
  EXPECT_NE(body.find(subject), std::string::npos);
  ASSERT_EQ(doc.Size("/content"), 2u);
  EXPECT_EQ(doc.Str("/content/0/type"), "text/plain");
  EXPECT_EQ(doc.Str("/content/0/value"), "plain");
  EXPECT_EQ(doc.Str("/content/1/type"), "text/html");
  EXPECT_EQ(doc.Str("/content/1/value"), "<p>html</p>");
  EXPECT_FALSE(doc.Has("/headers"));
  EXPECT_FALSE(doc.Has("/categories"));
}

TEST(SendGridBody, BareAddressHasNoName) {
  Json doc(Body(Config(), {.to = "a@b.example", .from = "noreply@shop.example", .text = "x"}));
  EXPECT_EQ(doc.Str("/from/email"), "noreply@shop.example");
  EXPECT_FALSE(doc.Has("/from/name"));
}

TEST(SendGridBody, OnlyTheNonEmptyPartIsSent) {
  Json text_only(Body(Config(), {.to = "a@b.example", .subject = "s", .text = "only text"}));
  ASSERT_EQ(text_only.Size("/content"), 1u);
  EXPECT_EQ(text_only.Str("/content/0/type"), "text/plain");
  EXPECT_EQ(text_only.Str("/content/0/value"), "only text");

  Json html_only(Body(Config(), {.to = "a@b.example", .subject = "s", .html = "<i>only</i>"}));
  ASSERT_EQ(html_only.Size("/content"), 1u);
  EXPECT_EQ(html_only.Str("/content/0/type"), "text/html");
  EXPECT_EQ(html_only.Str("/content/0/value"), "<i>only</i>");
}

TEST(SendGridBody, UnsubscribeHeadersOnlyWithAnUrl) {
  Json with(Body(
      Config(),
      {.to = "a@b.example", .text = "x", .unsubscribe_url = "https://shop.example/unsub?u=1&t=2"}));
  EXPECT_EQ(with.Str("/headers/List-Unsubscribe"), "<https://shop.example/unsub?u=1&t=2>");
  EXPECT_EQ(with.Str("/headers/List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");

  Json without(Body(Config(), {.to = "a@b.example", .text = "x"}));
  EXPECT_FALSE(without.Has("/headers"));
}

TEST(SendGridBody, CategoryWhenConfigured) {
  SendGridConfig cfg = Config();
  cfg.category = "transactional";
  Json doc(Body(cfg, {.to = "a@b.example", .text = "x"}));
  ASSERT_EQ(doc.Size("/categories"), 1u);
  EXPECT_EQ(doc.Str("/categories/0"), "transactional");
}

TEST(SendGridBody, EscapesQuotesNewlinesAndControlCharacters) {
  const std::string nasty = std::string("say \"hi\"\\ \n\r\t end") + '\x01' + '\x1f' + "</script>";
  const std::string body =
      Body(Config(), {.to = "a@b.example", .subject = nasty, .text = nasty, .html = nasty},
           "id\"with\nstuff");
  Json doc(body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc.Str("/subject"), nasty);
  EXPECT_EQ(doc.Str("/content/0/value"), nasty);
  EXPECT_EQ(doc.Str("/content/1/value"), nasty);
  EXPECT_EQ(doc.Str("/personalizations/0/custom_args/omnigate_id"), "id\"with\nstuff");
  EXPECT_NE(body.find(R"(say \"hi\"\\ \n\r\t end\u0001\u001f)"), std::string::npos) << body;
  for (const char c : body) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "raw control character in the body";
  }
}

TEST(SendGridBody, ConfigFromIsTheDefault) {
  Json doc(Body(Config(), {.to = "a@b.example", .from = "", .text = "x"}));
  EXPECT_EQ(doc.Str("/from/email"), "noreply@shop.example");
  EXPECT_EQ(doc.Str("/from/name"), "Shop");

  // The message's own From wins over the default.
  Json own(Body(Config(), {.to = "a@b.example", .from = "Ana <ana@shop.example>", .text = "x"}));
  EXPECT_EQ(own.Str("/from/email"), "ana@shop.example");
  EXPECT_EQ(own.Str("/from/name"), "Ana");
}

TEST(SendGridBody, FailsWithoutAUsableFrom) {
  SendGridConfig none;
  auto empty = SendGridProvider::BuildBody(none, {.to = "a@b.example", .text = "x"}, "r");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error(), "no usable From address");

  EXPECT_FALSE(
      SendGridProvider::BuildBody(none, {.to = "a@b.example", .from = "Shop", .text = "x"}, "r")
          .has_value());
  SendGridConfig bad_default;
  bad_default.from = "Shop <not-an-address>";
  EXPECT_FALSE(SendGridProvider::BuildBody(bad_default, {.to = "a@b.example", .text = "x"}, "r")
                   .has_value());
  // Header injection through the From.
  EXPECT_FALSE(SendGridProvider::BuildBody(
                   none, {.to = "a@b.example", .from = "a@b.example\r\nBcc: x@y.example"}, "r")
                   .has_value());
}

TEST(SendGridSend, MissingFromCompletesWithoutARequest) {
  boost::asio::io_context io;
  http::Transport transport(io, {});
  auto cfg = std::make_shared<SendGridConfig>();
  SendGridProvider provider("email-main", cfg, transport, 4);
  EXPECT_EQ(provider.channel(), Channel::email);
  OutboundMessage m;
  m.channel = Channel::email;
  m.request_id = "r";
  m.email = {.to = "a@b.example", .text = "x"};
  std::optional<SendResult> got;
  provider.Send(m, [&](SendResult r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, SendStatus::permanent);
  EXPECT_EQ(got->reason, "no_from_address");
  EXPECT_EQ(transport.stats().started, 0u);
  EXPECT_EQ(provider.in_flight(), 0u);
}

TEST(SendGridMapping, AcceptedWithMessageId) {
  auto r = SendGridProvider::MapResponse(Status(202, "", {{"x-message-id", "14c5d75ce93.dfd"}}));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.provider_message_id, "14c5d75ce93.dfd");
  EXPECT_TRUE(r.reason.empty());
}

TEST(SendGridMapping, AcceptedWithoutMessageIdIsFlagged) {
  auto r = SendGridProvider::MapResponse(Status(202));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_TRUE(r.provider_message_id.empty());
  EXPECT_EQ(r.reason, "no_message_id_in_response");
}

TEST(SendGridMapping, RecipientFieldErrorIsInvalidAddress) {
  auto r = SendGridProvider::MapResponse(Status(
      400, R"({"errors":[{"message":"Does not contain a valid address.",)"
           R"("field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs"}]})"));
  EXPECT_EQ(r.status, SendStatus::invalid_address);
  EXPECT_EQ(r.reason, "http_400");
}

TEST(SendGridMapping, OtherBadRequestsArePermanent) {
  for (const std::string& body :
       {std::string(R"({"errors":[{"message":"The from email does not contain a valid address.",)"
                    R"("field":"from.email"}]})"),
        std::string(R"({"errors":[{"message":"x","field":null}]})"), std::string("<html>"),
        std::string()}) {
    auto r = SendGridProvider::MapResponse(Status(400, body));
    EXPECT_EQ(r.status, SendStatus::permanent) << body;
    EXPECT_EQ(r.reason, "http_400") << body;
  }
}

TEST(SendGridMapping, AuthFailuresArePermanent) {
  for (long s : {401L, 403L}) {  // NOLINT(google-runtime-int)
    auto r = SendGridProvider::MapResponse(
        Status(s, R"({"errors":[{"message":"The provided authorization grant is invalid"}]})"));
    EXPECT_EQ(r.status, SendStatus::permanent) << s;
    EXPECT_EQ(r.reason, "auth") << s;
  }
}

TEST(SendGridMapping, PayloadTooLargeIsPermanent) {
  auto r = SendGridProvider::MapResponse(Status(413));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "http_413");
}

TEST(SendGridMapping, TooManyRequestsWaitsUntilTheRateLimitResets) {
  const std::int64_t reset = std::time(nullptr) + 30;
  auto r = SendGridProvider::MapResponse(Status(
      429, "", {{"x-ratelimit-limit", "600"}, {"x-ratelimit-reset", std::to_string(reset)}}));
  EXPECT_EQ(r.status, SendStatus::throttled);
  EXPECT_EQ(r.reason, "http_429");
  // The clock may tick between building the header and mapping it.
  EXPECT_GE(r.retry_after, std::chrono::seconds(28));
  EXPECT_LE(r.retry_after, std::chrono::seconds(30));

  auto no_header = SendGridProvider::MapResponse(Status(429));
  EXPECT_EQ(no_header.status, SendStatus::throttled);
  EXPECT_EQ(no_header.retry_after, std::chrono::seconds(1));
  // A reset in the past, or absurdly far away, falls back to the default.
  auto past = SendGridProvider::MapResponse(
      Status(429, "", {{"x-ratelimit-reset", std::to_string(std::time(nullptr) - 10)}}));
  EXPECT_EQ(past.retry_after, std::chrono::seconds(1));
}

TEST(SendGridMapping, ServerErrorsAreRetried) {
  for (long s : {500L, 502L, 503L}) {  // NOLINT(google-runtime-int)
    auto r = SendGridProvider::MapResponse(Status(s));
    EXPECT_EQ(r.status, SendStatus::retry) << s;
    EXPECT_EQ(r.reason, "http_" + std::to_string(s));
  }
}

TEST(SendGridMapping, TransportErrorsRetryExceptTls) {
  auto timeout = SendGridProvider::MapResponse(Failed(http::TransportError::timeout));
  EXPECT_EQ(timeout.status, SendStatus::retry);
  EXPECT_EQ(timeout.reason, "timeout");
  EXPECT_EQ(SendGridProvider::MapResponse(Failed(http::TransportError::connect)).status,
            SendStatus::retry);
  auto tls = SendGridProvider::MapResponse(Failed(http::TransportError::tls));
  EXPECT_EQ(tls.status, SendStatus::permanent);
  EXPECT_EQ(tls.reason, "tls");
}

}  // namespace
}  // namespace omnigate::providers
