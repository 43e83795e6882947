#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "providers/viber/viber_provider.h"
#include "tests/providers/fake_response.h"

namespace omnigate::providers {
namespace {

http::Response Viber(int status, std::string extra = {}) {
  return Status(200, R"({"status":)" + std::to_string(status) +
                         R"(,"status_message":"x","chat_hostname":"SN-CHAT-05_")" + extra + "}");
}

ViberConfig Config() {
  ViberConfig cfg;
  cfg.auth_token = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
  cfg.sender_name = "Shop";
  return cfg;
}

class ViberBody : public ::testing::Test {
 protected:
  // Builds and parses a body; `doc_` holds the result.
  std::string Build(const ViberConfig& cfg, const ViberMessage& m, std::string_view id = "req-7") {
    body_ = ViberProvider::BuildBody(cfg, m, id);
    EXPECT_EQ(parser_.parse(body_).get(doc_), simdjson::SUCCESS) << body_;
    return body_;
  }
  std::string Str(std::string_view pointer) {
    std::string_view s;
    EXPECT_EQ(doc_.at_pointer(pointer).get(s), simdjson::SUCCESS) << pointer << " in " << body_;
    return std::string(s);
  }
  std::int64_t Int(std::string_view pointer) {
    std::int64_t v = -1;
    EXPECT_EQ(doc_.at_pointer(pointer).get(v), simdjson::SUCCESS) << pointer << " in " << body_;
    return v;
  }
  bool Has(std::string_view pointer) {
    simdjson::dom::element e;
    return doc_.at_pointer(pointer).get(e) == simdjson::SUCCESS;
  }

  std::string body_;
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
};

TEST_F(ViberBody, ExactDocumentForAPictureWithButton) {
  ViberConfig cfg = Config();
  cfg.sender_avatar = "https://cdn.shop.example/avatar.png";
  cfg.min_api_version = 7;
  EXPECT_EQ(Build(cfg, {.to = "01234567890A=",
                        .text = "Your order 7781 is on its way",
                        .image_url = "https://cdn.shop.example/7781.png",
                        .button_caption = "Track",
                        .button_url = "https://shop.example/o/7781"}),
            R"({"receiver":"01234567890A=","min_api_version":7,)"
            R"("sender":{"name":"Shop","avatar":"https://cdn.shop.example/avatar.png"},)"
            R"("tracking_data":"req-7","type":"picture","text":"Your order 7781 is on its way",)"
            R"("media":"https://cdn.shop.example/7781.png",)"
            R"("keyboard":{"Type":"keyboard","DefaultHeight":false,"Buttons":[{"Columns":6,)"
            R"("Rows":1,"ActionType":"open-url","ActionBody":"https://shop.example/o/7781",)"
            R"("Text":"Track"}]}})");
}

TEST_F(ViberBody, PlainTextMessage) {
  Build(Config(), {.to = "+40700000001", .text = "Bună ziua \"Ana\"\nline two ✓"}, "req-1");
  EXPECT_EQ(Str("/receiver"), "+40700000001");
  EXPECT_EQ(Str("/sender/name"), "Shop");
  EXPECT_FALSE(Has("/sender/avatar"));
  EXPECT_EQ(Str("/tracking_data"), "req-1");
  EXPECT_EQ(Str("/type"), "text");
  EXPECT_EQ(Str("/text"), "Bună ziua \"Ana\"\nline two ✓");
  EXPECT_FALSE(Has("/media"));
  EXPECT_FALSE(Has("/keyboard"));
  EXPECT_FALSE(Has("/min_api_version"));
}

TEST_F(ViberBody, PictureCarriesMediaAndCaption) {
  Build(Config(), {.to = "u1", .text = "caption", .image_url = "https://cdn.example/p.jpg"});
  EXPECT_EQ(Str("/type"), "picture");
  EXPECT_EQ(Str("/media"), "https://cdn.example/p.jpg");
  EXPECT_EQ(Str("/text"), "caption");
  EXPECT_FALSE(Has("/keyboard"));
}

TEST_F(ViberBody, TextWithAnOpenUrlButton) {
  Build(Config(), {.to = "u1",
                   .text = "hello",
                   .button_caption = "Open \"it\"",
                   .button_url = "https://shop.example/x?a=1&b=2"});
  EXPECT_EQ(Str("/type"), "text");
  EXPECT_EQ(Str("/keyboard/Type"), "keyboard");
  simdjson::dom::array buttons;
  ASSERT_EQ(doc_.at_pointer("/keyboard/Buttons").get(buttons), simdjson::SUCCESS);
  ASSERT_EQ(buttons.size(), 1u);
  EXPECT_EQ(Int("/keyboard/Buttons/0/Columns"), 6);
  EXPECT_EQ(Int("/keyboard/Buttons/0/Rows"), 1);
  EXPECT_EQ(Str("/keyboard/Buttons/0/ActionType"), "open-url");
  EXPECT_EQ(Str("/keyboard/Buttons/0/ActionBody"), "https://shop.example/x?a=1&b=2");
  EXPECT_EQ(Str("/keyboard/Buttons/0/Text"), "Open \"it\"");
}

TEST_F(ViberBody, MinApiVersionOnlyWhenPositive) {
  ViberConfig cfg = Config();
  cfg.min_api_version = 0;
  Build(cfg, {.to = "u1", .text = "x"});
  EXPECT_FALSE(Has("/min_api_version"));
  cfg.min_api_version = 6;
  Build(cfg, {.to = "u1", .text = "x"});
  EXPECT_EQ(Int("/min_api_version"), 6);
}

TEST(ViberMapping, AcceptedKeepsTheExactMessageToken) {
  auto r = ViberProvider::MapResponse(Viber(0, R"(,"message_token":5741311803571721087)"));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.provider_message_id, "5741311803571721087");
  EXPECT_TRUE(r.reason.empty());
  // Beyond int64 as well.
  auto big = ViberProvider::MapResponse(Viber(0, R"(,"message_token":18446744073709551615)"));
  EXPECT_EQ(big.provider_message_id, "18446744073709551615");
}

TEST(ViberMapping, AcceptedWithoutTokenIsFlagged) {
  auto r = ViberProvider::MapResponse(Viber(0));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.reason, "no_message_token_in_response");
}

TEST(ViberMapping, UnreachableReceiverIsInvalidAddress) {
  for (int code : {5, 6, 11}) {
    auto r = ViberProvider::MapResponse(Viber(code));
    EXPECT_EQ(r.status, SendStatus::invalid_address) << code;
    EXPECT_EQ(r.reason, "viber_" + std::to_string(code));
  }
}

TEST(ViberMapping, TooManyRequestsIsThrottled) {
  auto r = ViberProvider::MapResponse(Viber(12));
  EXPECT_EQ(r.status, SendStatus::throttled);
  EXPECT_EQ(r.reason, "viber_12");
  EXPECT_GT(r.retry_after.count(), 0);
}

TEST(ViberMapping, BadTokenIsAuth) {
  auto r = ViberProvider::MapResponse(Viber(2));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "auth");
}

TEST(ViberMapping, OtherCodesArePermanent) {
  for (int code : {1, 3, 4, 7, 8, 9, 10, 13, 15, 24, 99}) {
    auto r = ViberProvider::MapResponse(Viber(code));
    EXPECT_EQ(r.status, SendStatus::permanent) << code;
    EXPECT_EQ(r.reason, "viber_" + std::to_string(code));
  }
}

TEST(ViberMapping, UnreadableBodyIsRetried) {
  for (const std::string& body :
       {std::string("<html>bad gateway</html>"), std::string(),
        std::string(R"({"status_message":"ok"})"), std::string(R"({"status":"0"})")}) {
    auto r = ViberProvider::MapResponse(Status(200, body));
    EXPECT_EQ(r.status, SendStatus::retry) << body;
    EXPECT_EQ(r.reason, "unreadable_body") << body;
  }
}

TEST(ViberMapping, HttpErrors) {
  auto server = ViberProvider::MapResponse(Status(500));
  EXPECT_EQ(server.status, SendStatus::retry);
  EXPECT_EQ(server.reason, "http_500");
  auto throttled = ViberProvider::MapResponse(Status(429, "", {{"retry-after", "3"}}));
  EXPECT_EQ(throttled.status, SendStatus::throttled);
  EXPECT_EQ(throttled.retry_after, std::chrono::seconds(3));
  auto not_found = ViberProvider::MapResponse(Status(404));
  EXPECT_EQ(not_found.status, SendStatus::permanent);
  EXPECT_EQ(not_found.reason, "http_404");
  http::Response timeout;
  timeout.error = http::TransportError::timeout;
  EXPECT_EQ(ViberProvider::MapResponse(timeout).status, SendStatus::retry);
}

}  // namespace
}  // namespace omnigate::providers
