#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/request.h"

namespace omnigate::gateway {
namespace {

using std::chrono::sys_days;
using namespace std::chrono_literals;

// 0x04 followed by 64 bytes: the shape of an uncompressed P-256 point.
constexpr std::string_view kP256dh =
    "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0A";
constexpr std::string_view kAuth = "ZGVmZ2hpamtsbW5vcHFycw";

// The §4 example with every placeholder filled in.
std::string FullExample() {
  return std::string(R"({
  "id": "order-7781-shipped",
  "tenant": "shop-ro",
  "lane": "transactional",
  "to": {
    "user_id": "u-42",
    "email": "ana@example.com",
    "phone": "+40700000001",
    "viber": "+40700000001",
    "webpush": {"endpoint": "https://push.example.net/s/abc", "p256dh": ")") +
         std::string(kP256dh) + R"(", "auth": ")" + std::string(kAuth) + R"("},
    "timezone": "Europe/Bucharest"
  },
  "channels": ["viber", "sms"],
  "cascade": {"viber": {"wait_for": "delivered", "timeout": "10m"}},
  "content": {
    "sms":     {"text": "Your order 7781 is on its way", "sender": "Shop"},
    "viber":   {"text": "Your order 7781 is on its way", "image_url": "https://cdn.shop.example/7781.png", "button": {"caption": "Track", "url": "https://shop.example/t/7781"}},
    "email":   {"from": "Shop <noreply@shop.example>", "subject": "Order 7781 shipped", "html": "<p>On its way</p>", "text": "On its way", "unsubscribe_url": "https://shop.example/u/42"},
    "webpush": {"title": "Order shipped", "body": "On its way", "url": "https://shop.example/o/7781", "icon": "https://shop.example/i.png", "ttl": "1d", "urgency": "normal", "topic": "order-7781"}
  },
  "send_at": "2026-11-22T10:00:00Z",
  "expires_at": "2026-11-22T22:00:00Z",
  "campaign": "autumn-sale",
  "tags": ["order"]
})";
}

// A minimal valid SMS request built from whole members, so that a case can
// replace or drop one member (empty = omitted) and add others in `extra`.
struct Req {
  std::string id = R"("id":"r1")";
  std::string to = R"("to":{"phone":"+40700000001"})";
  std::string channels = R"("channels":["sms"])";
  std::string content = R"("content":{"sms":{"text":"hi"}})";
  std::string extra;

  std::string Json() const {
    std::string out = "{";
    for (const std::string* member : {&id, &to, &channels, &content, &extra}) {
      if (member->empty()) continue;
      if (out.size() > 1) out += ",";
      out += *member;
    }
    return out + "}";
  }
};

std::string Repeat(std::string_view unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  return out;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string WebPushTo(std::string_view endpoint, std::string_view p256dh, std::string_view auth) {
  return R"("to":{"webpush":{"endpoint":)" + Quoted(endpoint) + R"(,"p256dh":)" + Quoted(p256dh) +
         R"(,"auth":)" + Quoted(auth) + "}}";
}

std::string WebPushRequest(std::string_view content) {
  return Req{.to = WebPushTo("https://push.example.net/s/1", kP256dh, kAuth),
             .channels = R"("channels":["webpush"])",
             .content = R"("content":{"webpush":)" + std::string(content) + "}"}
      .Json();
}

std::string ViberRequest(std::string_view content) {
  return Req{.to = R"("to":{"viber":"v1"})",
             .channels = R"("channels":["viber"])",
             .content = R"("content":{"viber":)" + std::string(content) + "}"}
      .Json();
}

std::string EmailRequest(std::string_view content) {
  return Req{.to = R"("to":{"email":"ana@example.com"})",
             .channels = R"("channels":["email"])",
             .content = R"("content":{"email":)" + std::string(content) + "}"}
      .Json();
}

std::string SmsRequest(std::string_view content) {
  return Req{.content = R"("content":{"sms":)" + std::string(content) + "}"}.Json();
}

std::string CascadeRequest(std::string_view cascade) {
  return Req{.to = R"("to":{"phone":"+40700000001","viber":"v1"})",
             .channels = R"("channels":["viber","sms"])",
             .content = R"("content":{"sms":{"text":"hi"},"viber":{"text":"hi"}})",
             .extra = R"("cascade":)" + std::string(cascade)}
      .Json();
}

sys_days Day(int y, unsigned m, unsigned d) {
  return sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
}

// ---- the happy path --------------------------------------------------------

TEST(RequestDecoder, DecodesTheFullExample) {
  RequestDecoder decoder;
  auto result = decoder.Decode(FullExample(), Lane::bulk);
  ASSERT_TRUE(result) << result.error().ToString();
  const SendRequest& r = *result;
  EXPECT_EQ(r.id, "order-7781-shipped");
  EXPECT_EQ(r.tenant, "shop-ro");
  EXPECT_EQ(r.lane, Lane::transactional);
  EXPECT_EQ(r.to.user_id, "u-42");
  EXPECT_EQ(r.to.email, "ana@example.com");
  EXPECT_EQ(r.to.phone, "+40700000001");
  EXPECT_EQ(r.to.viber, "+40700000001");
  ASSERT_TRUE(r.to.webpush);
  EXPECT_EQ(r.to.webpush->endpoint, "https://push.example.net/s/abc");
  EXPECT_EQ(r.to.webpush->p256dh, kP256dh);
  EXPECT_EQ(r.to.webpush->auth, kAuth);
  EXPECT_EQ(r.to.timezone, "Europe/Bucharest");
  EXPECT_EQ(r.channels, (std::vector<Channel>{Channel::viber, Channel::sms}));
  const auto& viber_step = r.cascade[static_cast<std::size_t>(Channel::viber)];
  ASSERT_TRUE(viber_step);
  EXPECT_EQ(viber_step->wait_for, WaitFor::delivered);
  EXPECT_EQ(viber_step->timeout, 10min);
  EXPECT_FALSE(r.cascade[static_cast<std::size_t>(Channel::sms)]);
  EXPECT_FALSE(r.cascade[static_cast<std::size_t>(Channel::email)]);
  EXPECT_FALSE(r.cascade[static_cast<std::size_t>(Channel::webpush)]);

  ASSERT_TRUE(r.sms);
  EXPECT_EQ(r.sms->text, "Your order 7781 is on its way");
  EXPECT_EQ(r.sms->sender, "Shop");
  ASSERT_TRUE(r.viber);
  EXPECT_EQ(r.viber->text, "Your order 7781 is on its way");
  EXPECT_EQ(r.viber->image_url, "https://cdn.shop.example/7781.png");
  ASSERT_TRUE(r.viber->button);
  EXPECT_EQ(r.viber->button->caption, "Track");
  EXPECT_EQ(r.viber->button->url, "https://shop.example/t/7781");
  ASSERT_TRUE(r.email);
  EXPECT_EQ(r.email->from, "Shop <noreply@shop.example>");
  EXPECT_EQ(r.email->subject, "Order 7781 shipped");
  EXPECT_EQ(r.email->html, "<p>On its way</p>");
  EXPECT_EQ(r.email->text, "On its way");
  EXPECT_EQ(r.email->unsubscribe_url, "https://shop.example/u/42");
  ASSERT_TRUE(r.webpush);
  EXPECT_EQ(r.webpush->title, "Order shipped");
  EXPECT_EQ(r.webpush->body, "On its way");
  EXPECT_EQ(r.webpush->url, "https://shop.example/o/7781");
  EXPECT_EQ(r.webpush->icon, "https://shop.example/i.png");
  EXPECT_EQ(r.webpush->ttl, 24h);
  EXPECT_EQ(r.webpush->urgency, Urgency::normal);
  EXPECT_EQ(r.webpush->topic, "order-7781");

  ASSERT_TRUE(r.send_at);
  EXPECT_EQ(*r.send_at, Day(2026, 11, 22) + 10h);
  ASSERT_TRUE(r.expires_at);
  EXPECT_EQ(*r.expires_at, Day(2026, 11, 22) + 22h);
  EXPECT_EQ(r.campaign, "autumn-sale");
  EXPECT_EQ(r.tags, (std::vector<std::string>{"order"}));
}

TEST(RequestDecoder, AppliesDefaults) {
  RequestDecoder decoder;
  auto result = decoder.Decode(CascadeRequest(R"({"viber":{}})"), Lane::transactional);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ(result->tenant, "default");
  EXPECT_TRUE(result->to.timezone.empty());
  EXPECT_FALSE(result->email);
  EXPECT_FALSE(result->webpush);
  EXPECT_FALSE(result->send_at);
  EXPECT_FALSE(result->expires_at);
  EXPECT_TRUE(result->campaign.empty());
  EXPECT_TRUE(result->tags.empty());
  EXPECT_TRUE(result->sms->sender.empty());
  const auto& step = result->cascade[static_cast<std::size_t>(Channel::viber)];
  ASSERT_TRUE(step);
  EXPECT_EQ(step->wait_for, WaitFor::delivered);
  EXPECT_EQ(step->timeout, 10min);

  auto push = decoder.Decode(WebPushRequest(R"({"title":"t"})"), Lane::transactional);
  ASSERT_TRUE(push) << push.error().ToString();
  EXPECT_EQ(push->webpush->ttl, 24h);
  EXPECT_EQ(push->webpush->urgency, Urgency::normal);
}

TEST(RequestDecoder, LaneDefaultsToTheTopicAndTheRequestOverridesIt) {
  RequestDecoder decoder;
  EXPECT_EQ(decoder.Decode(Req{}.Json(), Lane::bulk)->lane, Lane::bulk);
  EXPECT_EQ(decoder.Decode(Req{}.Json(), Lane::transactional)->lane, Lane::transactional);
  EXPECT_EQ(decoder.Decode(Req{.extra = R"("lane":"transactional")"}.Json(), Lane::bulk)->lane,
            Lane::transactional);
  EXPECT_EQ(decoder.Decode(Req{.extra = R"("lane":"bulk")"}.Json(), Lane::transactional)->lane,
            Lane::bulk);
  EXPECT_EQ(decoder.Decode(Req{.extra = R"("lane":null)"}.Json(), Lane::bulk)->lane, Lane::bulk);
}

TEST(RequestDecoder, IgnoresUnknownFieldsAnywhere) {
  RequestDecoder decoder;
  const std::string json =
      Req{.to = R"("to":{"phone":"+40700000001","fax":"+40211111111","nested":{"x":[1,{}]}})",
          .content = R"("content":{"sms":{"text":"hi","flash":true},"pigeon":{"text":"coo"}})",
          .extra = R"("priority":9,"meta":{"a":[null,true,1.5e3]},"cascade":{"viber":null})"}
          .Json();
  auto result = decoder.Decode(json, Lane::transactional);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ(result->to.phone, "+40700000001");
  EXPECT_EQ(result->sms->text, "hi");
}

TEST(RequestDecoder, NullIsTheSameAsAbsent) {
  RequestDecoder decoder;
  auto result = decoder.Decode(
      Req{.extra = R"("version":null,"tenant":null,"lane":null,"send_at":null,"tags":null)"}.Json(),
      Lane::bulk);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ(result->tenant, "default");
  EXPECT_FALSE(result->send_at);
  auto missing = decoder.Decode(Req{.id = R"("id":null)"}.Json(), Lane::bulk);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().rule, "required");
}

// Requests that are valid, each near a limit or using a less common form.
std::vector<std::string> ValidRequests() {
  return {
      Req{.extra = R"("version":1)"}.Json(),
      Req{.id = R"("id":")" + Repeat("a", 128) + R"(")"}.Json(),
      Req{.id = R"("id":"!~{}[]:/\\\"")"}.Json(),
      Req{.extra = R"("tenant":"a.B_c-9")"}.Json(),
      Req{.extra = R"("tenant":")" + Repeat("t", 64) + R"(")"}.Json(),
      Req{.to = R"("to":{"phone":"+4070000","user_id":")" + Repeat("é", 128) + R"("})"}.Json(),
      Req{.to = R"("to":{"phone":"+123456789012345"})"}.Json(),
      Req{.to = R"("to":{"phone":"+40700000001","email":"first.last+tag@mail.example.co.uk"})"}
          .Json(),
      Req{.to =
              R"("to":{"phone":"+40700000001","email":"o'hara!#$%&*/=?^_`{|}~-@xn--bcher-kva.example"})"}
          .Json(),
      Req{.to = R"("to":{"phone":"+40700000001","timezone":"UTC"})"}.Json(),
      Req{.to = R"("to":{"phone":"+40700000001","timezone":"America/Argentina/Buenos_Aires"})"}
          .Json(),
      Req{.to = R"("to":{"phone":"+40700000001","timezone":"Etc/GMT+3"})"}.Json(),
      Req{.to = R"("to":{"phone":"+40700000001","timezone":"America/Port-au-Prince"})"}.Json(),
      // Padded base64url is accepted as well as unpadded.
      WebPushRequest(R"({"title":"t"})"),
      Req{.to = WebPushTo("https://push.example.net/s/1", std::string(kP256dh) + "=",
                          std::string(kAuth) + "=="),
          .channels = R"("channels":["webpush"])",
          .content = R"("content":{"webpush":{"title":"t"}})"}
          .Json(),
      Req{.to = WebPushTo("HTTPS://[2001:db8::1]:8443/p?x=1#f", kP256dh, kAuth),
          .channels = R"("channels":["webpush"])",
          .content = R"("content":{"webpush":{"title":"t"}})"}
          .Json(),
      Req{.to = WebPushTo("https://localhost:1/x", kP256dh, kAuth),
          .channels = R"("channels":["webpush"])",
          .content = R"("content":{"webpush":{"title":"t"}})"}
          .Json(),
      SmsRequest(R"({"text":")" + Repeat("é", 1600) + R"("})"),
      SmsRequest(R"({"text":")" + Repeat("😀", 1600) + R"("})"),
      SmsRequest(R"({"text":"hi","sender":"+40700000001"})"),
      SmsRequest(R"({"text":"hi","sender":"Shop 24 Ltd"})"),
      ViberRequest(R"({"image_url":"https://cdn.example/a.png"})"),
      ViberRequest(R"({"text":"","image_url":"https://cdn.example/a.png"})"),
      ViberRequest(R"({"text":")" + Repeat("ș", 7000) + R"("})"),
      ViberRequest(R"({"text":"t","button":{"caption":")" + Repeat("ă", 30) +
                   R"(","url":"https://x.example"}})"),
      EmailRequest(R"({"from":"noreply@shop.example","subject":"s","text":"t"})"),
      EmailRequest(R"({"from":"\"Shop, Inc\" <noreply@shop.example>","subject":"s","html":"h"})"),
      EmailRequest(R"({"from":"Shop <a@shop.example>","subject":")" + Repeat("s", 998) +
                   R"(","html":"h"})"),
      EmailRequest(
          R"({"from":"a@shop.example","subject":"s","text":"t","unsubscribe_url":"mailto:unsub@shop.example?subject=stop"})"),
      WebPushRequest(R"({"title":")" + Repeat("ü", 256) + R"("})"),
      WebPushRequest(R"({"title":"t","ttl":"0"})"),
      WebPushRequest(R"({"title":"t","ttl":"28d","urgency":"very-low"})"),
      WebPushRequest(R"({"title":"t","topic":")" + Repeat("A-_z", 8) + R"("})"),
      CascadeRequest(R"({"viber":{"wait_for":"read","timeout":"7d"}})"),
      CascadeRequest(R"({"viber":{"wait_for":"sent","timeout":"1ms"}})"),
      Req{.extra =
              R"("send_at":"2026-11-22T10:00:00.5+02:00","expires_at":"2026-11-22t08:00:00.6z")"}
          .Json(),
      Req{.extra = R"("send_at":"2028-02-29T23:59:60Z")"}.Json(),
      Req{.extra = R"("send_at":"2261-12-31T23:59:59Z")"}.Json(),
      Req{.extra = R"("expires_at":"1970-01-01T00:00:00+05:00")"}.Json(),
      Req{.extra = R"("campaign":"")"}.Json(),
      Req{.extra = R"("campaign":")" + Repeat("c", 128) + R"(")"}.Json(),
      Req{.extra = R"("tags":[])"}.Json(),
  };
}

TEST(RequestDecoder, AcceptsValidVariants) {
  RequestDecoder decoder;
  for (const auto& json : ValidRequests()) {
    auto result = decoder.Decode(json, Lane::transactional);
    EXPECT_TRUE(result) << json << "\n  -> " << result.error().ToString();
  }
}

// ---- every rule ------------------------------------------------------------

struct RejectCase {
  std::string name;
  std::string json;
  std::string field;
  std::string rule;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

std::vector<RejectCase> RejectCases() {
  const std::string s129 = Repeat("a", 129);
  const std::string webpush_channel = R"("channels":["webpush"])";
  const std::string webpush_content = R"("content":{"webpush":{"title":"t"}})";
  auto push_to = [&](std::string to) {
    return Req{.to = std::move(to), .channels = webpush_channel, .content = webpush_content}.Json();
  };
  auto email_to = [](std::string_view email) {
    return Req{.to = R"("to":{"phone":"+40700000001","email":)" + Quoted(email) + "}"}.Json();
  };
  auto phone_to = [](std::string_view p) {
    return Req{.to = R"("to":{"phone":)" + Quoted(p) + "}"}.Json();
  };
  auto timezone_to = [](std::string_view tz) {
    return Req{.to = R"("to":{"phone":"+40700000001","timezone":)" + Quoted(tz) + "}"}.Json();
  };
  const std::string too_many_tags = R"("tags":[)" + Repeat(R"("t",)", 32) + R"("t"])";

  return {
      // body
      {"json_syntax", R"({"id":)", "", "json"},
      {"json_empty", "", "", "json"},
      {"json_trailing_garbage", Req{}.Json() + "}", "", "json"},
      {"utf8_invalid", "{\"id\":\"\xC3\x28\"}", "", "utf8"},
      {"body_not_object", R"(["id"])", "", "type"},
      {"body_string", R"("hello")", "", "type"},
      // version
      {"version_2", Req{.extra = R"("version":2)"}.Json(), "version", "enum"},
      {"version_huge", Req{.extra = R"("version":18446744073709551615)"}.Json(), "version", "enum"},
      {"version_string", Req{.extra = R"("version":"1")"}.Json(), "version", "type"},
      {"version_float", Req{.extra = R"("version":1.0)"}.Json(), "version", "type"},
      // id
      {"id_missing", Req{.id = ""}.Json(), "id", "required"},
      {"id_number", Req{.id = R"("id":42)"}.Json(), "id", "type"},
      {"id_empty", Req{.id = R"("id":"")"}.Json(), "id", "empty"},
      {"id_too_long", Req{.id = R"("id":")" + s129 + R"(")"}.Json(), "id", "max_length"},
      {"id_space", Req{.id = R"("id":"a b")"}.Json(), "id", "printable_ascii"},
      {"id_control", Req{.id = R"("id":"a\u0001")"}.Json(), "id", "printable_ascii"},
      {"id_del", Req{.id = R"("id":"a\u007f")"}.Json(), "id", "printable_ascii"},
      {"id_non_ascii", Req{.id = R"("id":"café")"}.Json(), "id", "printable_ascii"},
      // tenant
      {"tenant_number", Req{.extra = R"("tenant":7)"}.Json(), "tenant", "type"},
      {"tenant_empty", Req{.extra = R"("tenant":"")"}.Json(), "tenant", "empty"},
      {"tenant_too_long", Req{.extra = R"("tenant":")" + Repeat("t", 65) + R"(")"}.Json(), "tenant",
       "max_length"},
      {"tenant_charset", Req{.extra = R"("tenant":"shop ro")"}.Json(), "tenant", "charset"},
      {"tenant_slash", Req{.extra = R"("tenant":"shop/ro")"}.Json(), "tenant", "charset"},
      // lane
      {"lane_unknown", Req{.extra = R"("lane":"urgent")"}.Json(), "lane", "enum"},
      {"lane_bool", Req{.extra = R"("lane":true)"}.Json(), "lane", "type"},
      // to
      {"to_missing", Req{.to = ""}.Json(), "to", "required"},
      {"to_array", Req{.to = R"("to":["+40700000001"])"}.Json(), "to", "type"},
      {"user_id_number", Req{.to = R"("to":{"phone":"+40700000001","user_id":42})"}.Json(),
       "to.user_id", "type"},
      {"user_id_empty", Req{.to = R"("to":{"phone":"+40700000001","user_id":""})"}.Json(),
       "to.user_id", "empty"},
      {"user_id_too_long",
       Req{.to = R"("to":{"phone":"+40700000001","user_id":")" + s129 + R"("})"}.Json(),
       "to.user_id", "max_length"},
      {"email_type", Req{.to = R"("to":{"phone":"+40700000001","email":["a@b.example"]})"}.Json(),
       "to.email", "type"},
      {"email_no_at", email_to("ana.example.com"), "to.email", "email"},
      {"email_empty", email_to(""), "to.email", "email"},
      {"email_no_dot", email_to("ana@localhost"), "to.email", "email"},
      {"email_space", email_to("ana maria@example.com"), "to.email", "email"},
      {"email_empty_local", email_to("@example.com"), "to.email", "email"},
      {"email_leading_dot", email_to(".ana@example.com"), "to.email", "email"},
      {"email_double_dot", email_to("ana..maria@example.com"), "to.email", "email"},
      {"email_local_too_long", email_to(Repeat("a", 65) + "@example.com"), "to.email", "email"},
      {"email_too_long", email_to("a@" + Repeat("abcdefghi.", 25) + "example.com"), "to.email",
       "email"},
      {"email_bad_domain_char", email_to("ana@exa_mple.com"), "to.email", "email"},
      {"email_domain_hyphen", email_to("ana@-example.com"), "to.email", "email"},
      {"email_domain_empty_label", email_to("ana@example..com"), "to.email", "email"},
      {"email_ip_literal", email_to("ana@192.168.0.1"), "to.email", "email"},
      {"email_two_at", email_to("a@b@example.com"), "to.email", "email"},
      {"phone_number_type", Req{.to = R"("to":{"phone":40700000001})"}.Json(), "to.phone", "type"},
      {"phone_no_plus", phone_to("40700000001"), "to.phone", "e164"},
      {"phone_national", phone_to("0700000001"), "to.phone", "e164"},
      {"phone_leading_zero", phone_to("+0700000001"), "to.phone", "e164"},
      {"phone_too_short", phone_to("+123456"), "to.phone", "e164"},
      {"phone_too_long", phone_to("+1234567890123456"), "to.phone", "e164"},
      {"phone_space", phone_to("+40 700000001"), "to.phone", "e164"},
      {"phone_empty", phone_to(""), "to.phone", "e164"},
      {"viber_empty", Req{.to = R"("to":{"phone":"+40700000001","viber":""})"}.Json(), "to.viber",
       "empty"},
      {"viber_too_long",
       Req{.to = R"("to":{"phone":"+40700000001","viber":")" + s129 + R"("})"}.Json(), "to.viber",
       "max_length"},
      {"viber_type", Req{.to = R"("to":{"phone":"+40700000001","viber":1})"}.Json(), "to.viber",
       "type"},
      {"webpush_type", push_to(R"("to":{"webpush":"https://push.example.net/s/1"})"), "to.webpush",
       "type"},
      {"webpush_endpoint_missing",
       push_to(R"("to":{"webpush":{"p256dh":")" + std::string(kP256dh) + R"(","auth":")" +
               std::string(kAuth) + R"("}})"),
       "to.webpush.endpoint", "required"},
      {"webpush_endpoint_http", push_to(WebPushTo("http://push.example.net/s/1", kP256dh, kAuth)),
       "to.webpush.endpoint", "url"},
      {"webpush_endpoint_no_host", push_to(WebPushTo("https:///s/1", kP256dh, kAuth)),
       "to.webpush.endpoint", "url"},
      {"webpush_endpoint_space", push_to(WebPushTo("https://push.example.net/s 1", kP256dh, kAuth)),
       "to.webpush.endpoint", "url"},
      {"webpush_endpoint_userinfo",
       push_to(WebPushTo("https://user@push.example.net/s/1", kP256dh, kAuth)),
       "to.webpush.endpoint", "url"},
      {"webpush_endpoint_bad_port",
       push_to(WebPushTo("https://push.example.net:99999/s/1", kP256dh, kAuth)),
       "to.webpush.endpoint", "url"},
      {"webpush_endpoint_too_long",
       push_to(WebPushTo("https://push.example.net/" + Repeat("s", 2030), kP256dh, kAuth)),
       "to.webpush.endpoint", "max_length"},
      {"webpush_p256dh_missing",
       push_to(R"("to":{"webpush":{"endpoint":"https://push.example.net/s/1","auth":")" +
               std::string(kAuth) + R"("}})"),
       "to.webpush.p256dh", "required"},
      {"webpush_p256dh_standard_base64",
       push_to(WebPushTo("https://p.example",
                         "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1N"
                         "jc4OTo7PD0+P0A",
                         kAuth)),
       "to.webpush.p256dh", "base64url"},
      {"webpush_p256dh_bad_length",
       push_to(WebPushTo("https://p.example", std::string(kP256dh) + "AA", kAuth)),
       "to.webpush.p256dh", "base64url"},
      {"webpush_p256dh_bad_padding",
       push_to(WebPushTo("https://p.example", std::string(kP256dh) + "==", kAuth)),
       "to.webpush.p256dh", "base64url"},
      {"webpush_p256dh_64_bytes",
       push_to(WebPushTo(
           "https://p.example",
           "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw",
           kAuth)),
       "to.webpush.p256dh", "key_length"},
      {"webpush_p256dh_compressed",
       push_to(WebPushTo("https://p.example",
                         "AgECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1N"
                         "jc4OTo7PD0-P0A",
                         kAuth)),
       "to.webpush.p256dh", "key_length"},
      {"webpush_auth_missing",
       push_to(R"("to":{"webpush":{"endpoint":"https://push.example.net/s/1","p256dh":")" +
               std::string(kP256dh) + R"("}})"),
       "to.webpush.auth", "required"},
      {"webpush_auth_bad_char",
       push_to(WebPushTo("https://p.example", kP256dh, "ZGVmZ2hpamtsbW5vcHFyc!")),
       "to.webpush.auth", "base64url"},
      {"webpush_auth_15_bytes",
       push_to(WebPushTo("https://p.example", kP256dh, "ZGVmZ2hpamtsbW5vcHFy")), "to.webpush.auth",
       "key_length"},
      {"timezone_type", Req{.to = R"("to":{"phone":"+40700000001","timezone":2})"}.Json(),
       "to.timezone", "type"},
      {"timezone_single_segment", timezone_to("Bucharest"), "to.timezone", "timezone"},
      {"timezone_trailing_slash", timezone_to("Europe/"), "to.timezone", "timezone"},
      {"timezone_space", timezone_to("Europe/Bu charest"), "to.timezone", "timezone"},
      {"timezone_offset", timezone_to("+02:00"), "to.timezone", "timezone"},
      {"timezone_empty", timezone_to(""), "to.timezone", "timezone"},
      // channels
      {"channels_missing", Req{.channels = ""}.Json(), "channels", "required"},
      {"channels_string", Req{.channels = R"("channels":"sms")"}.Json(), "channels", "type"},
      {"channels_empty", Req{.channels = R"("channels":[])"}.Json(), "channels", "empty"},
      {"channels_too_many",
       Req{.channels = R"("channels":["sms","email","viber","webpush","sms"])"}.Json(), "channels",
       "max_length"},
      {"channels_item_type", Req{.channels = R"("channels":["sms",2])"}.Json(), "channels[1]",
       "type"},
      {"channels_item_unknown", Req{.channels = R"("channels":["fax"])"}.Json(), "channels[0]",
       "enum"},
      {"channels_item_case", Req{.channels = R"("channels":["SMS"])"}.Json(), "channels[0]",
       "enum"},
      {"channels_duplicate", Req{.channels = R"("channels":["sms","sms"])"}.Json(), "channels[1]",
       "duplicate"},
      // addresses and content of listed channels
      {"missing_address_sms", Req{.to = R"("to":{"email":"ana@example.com"})"}.Json(), "to.phone",
       "missing_address"},
      {"missing_address_email", Req{.channels = R"("channels":["sms","email"])"}.Json(), "to.email",
       "missing_address"},
      {"missing_address_viber", Req{.channels = R"("channels":["viber"])"}.Json(), "to.viber",
       "missing_address"},
      {"missing_address_webpush", Req{.channels = R"("channels":["webpush"])"}.Json(), "to.webpush",
       "missing_address"},
      {"missing_content_no_content", Req{.content = ""}.Json(), "content.sms", "missing_content"},
      {"missing_content_other_block", Req{.content = R"("content":{"viber":{"text":"hi"}})"}.Json(),
       "content.sms", "missing_content"},
      {"missing_content_second_channel",
       Req{.to = R"("to":{"phone":"+40700000001","viber":"v1"})",
           .channels = R"("channels":["sms","viber"])"}
           .Json(),
       "content.viber", "missing_content"},
      {"content_type", Req{.content = R"("content":"hi")"}.Json(), "content", "type"},
      // cascade
      {"cascade_type", CascadeRequest(R"(["viber"])"), "cascade", "type"},
      {"cascade_unlisted_channel", CascadeRequest(R"({"email":{}})"), "cascade.email", "enum"},
      {"cascade_unknown_channel", CascadeRequest(R"({"fax":{}})"), "cascade.fax", "enum"},
      {"cascade_last_channel", CascadeRequest(R"({"sms":{"timeout":"1m"}})"), "cascade.sms",
       "order"},
      {"cascade_single_channel", Req{.extra = R"("cascade":{"sms":{}})"}.Json(), "cascade.sms",
       "order"},
      {"cascade_step_type", CascadeRequest(R"({"viber":"10m"})"), "cascade.viber", "type"},
      {"cascade_wait_for_unknown", CascadeRequest(R"({"viber":{"wait_for":"seen"}})"),
       "cascade.viber.wait_for", "enum"},
      {"cascade_wait_for_type", CascadeRequest(R"({"viber":{"wait_for":1}})"),
       "cascade.viber.wait_for", "type"},
      {"cascade_timeout_type", CascadeRequest(R"({"viber":{"timeout":600}})"),
       "cascade.viber.timeout", "type"},
      {"cascade_timeout_malformed", CascadeRequest(R"({"viber":{"timeout":"10 minutes"}})"),
       "cascade.viber.timeout", "duration"},
      {"cascade_timeout_zero", CascadeRequest(R"({"viber":{"timeout":"0s"}})"),
       "cascade.viber.timeout", "range"},
      {"cascade_timeout_too_long", CascadeRequest(R"({"viber":{"timeout":"169h"}})"),
       "cascade.viber.timeout", "range"},
      // content.sms
      {"sms_type", Req{.content = R"("content":{"sms":"hi"})"}.Json(), "content.sms", "type"},
      {"sms_text_missing", SmsRequest(R"({"sender":"Shop"})"), "content.sms.text", "required"},
      {"sms_text_type", SmsRequest(R"({"text":7})"), "content.sms.text", "type"},
      {"sms_text_empty", SmsRequest(R"({"text":""})"), "content.sms.text", "empty"},
      {"sms_text_too_long", SmsRequest(R"({"text":")" + Repeat("é", 1601) + R"("})"),
       "content.sms.text", "max_length"},
      {"sms_sender_type", SmsRequest(R"({"text":"hi","sender":1})"), "content.sms.sender", "type"},
      {"sms_sender_too_long", SmsRequest(R"({"text":"hi","sender":"ShopOnline24"})"),
       "content.sms.sender", "sender"},
      {"sms_sender_punctuation", SmsRequest(R"({"text":"hi","sender":"Shop!"})"),
       "content.sms.sender", "sender"},
      {"sms_sender_empty", SmsRequest(R"({"text":"hi","sender":""})"), "content.sms.sender",
       "sender"},
      {"sms_sender_blank", SmsRequest(R"({"text":"hi","sender":"   "})"), "content.sms.sender",
       "sender"},
      {"sms_sender_bad_e164", SmsRequest(R"({"text":"hi","sender":"+0123"})"), "content.sms.sender",
       "sender"},
      // content.viber
      {"viber_text_missing", ViberRequest("{}"), "content.viber.text", "required"},
      {"viber_text_empty_no_image", ViberRequest(R"({"text":""})"), "content.viber.text",
       "required"},
      {"viber_text_type", ViberRequest(R"({"text":["hi"]})"), "content.viber.text", "type"},
      {"viber_text_too_long", ViberRequest(R"({"text":")" + Repeat("ș", 7001) + R"("})"),
       "content.viber.text", "max_length"},
      {"viber_image_url_http",
       ViberRequest(R"({"text":"t","image_url":"http://cdn.example/a.png"})"),
       "content.viber.image_url", "url"},
      {"viber_button_type", ViberRequest(R"({"text":"t","button":"Track"})"),
       "content.viber.button", "type"},
      {"viber_button_caption_missing",
       ViberRequest(R"({"text":"t","button":{"url":"https://x.example"}})"),
       "content.viber.button.caption", "required"},
      {"viber_button_caption_empty",
       ViberRequest(R"({"text":"t","button":{"caption":"","url":"https://x.example"}})"),
       "content.viber.button.caption", "empty"},
      {"viber_button_caption_too_long",
       ViberRequest(R"({"text":"t","button":{"caption":")" + Repeat("ă", 31) +
                    R"(","url":"https://x.example"}})"),
       "content.viber.button.caption", "max_length"},
      {"viber_button_url_missing", ViberRequest(R"({"text":"t","button":{"caption":"Go"}})"),
       "content.viber.button.url", "required"},
      {"viber_button_url_scheme",
       ViberRequest(R"({"text":"t","button":{"caption":"Go","url":"ftp://x.example"}})"),
       "content.viber.button.url", "url"},
      {"viber_button_without_text",
       ViberRequest(
           R"({"image_url":"https://cdn.example/a.png","button":{"caption":"Go","url":"https://x.example"}})"),
       "content.viber.text", "required"},
      // content.email
      {"email_from_missing", EmailRequest(R"({"subject":"s","text":"t"})"), "content.email.from",
       "required"},
      {"email_from_no_domain",
       EmailRequest(R"({"from":"Shop <noreply>","subject":"s","text":"t"})"), "content.email.from",
       "email"},
      {"email_from_unbalanced",
       EmailRequest(R"({"from":"Shop noreply@x.example>","subject":"s","text":"t"})"),
       "content.email.from", "email"},
      {"email_from_header_injection",
       EmailRequest(
           R"({"from":"Shop\r\nBcc: x@evil.example <a@shop.example>","subject":"s","text":"t"})"),
       "content.email.from", "header"},
      {"email_subject_missing", EmailRequest(R"({"from":"a@shop.example","text":"t"})"),
       "content.email.subject", "required"},
      {"email_subject_empty", EmailRequest(R"({"from":"a@shop.example","subject":"","text":"t"})"),
       "content.email.subject", "empty"},
      {"email_subject_too_long",
       EmailRequest(R"({"from":"a@shop.example","subject":")" + Repeat("s", 999) +
                    R"(","text":"t"})"),
       "content.email.subject", "max_length"},
      {"email_subject_bytes_not_chars",
       EmailRequest(R"({"from":"a@shop.example","subject":")" + Repeat("ș", 500) +
                    R"(","text":"t"})"),
       "content.email.subject", "max_length"},
      {"email_subject_newline",
       EmailRequest(R"({"from":"a@shop.example","subject":"a\nBcc: x@evil.example","text":"t"})"),
       "content.email.subject", "header"},
      {"email_no_body", EmailRequest(R"({"from":"a@shop.example","subject":"s"})"), "content.email",
       "required"},
      {"email_empty_bodies",
       EmailRequest(R"({"from":"a@shop.example","subject":"s","html":"","text":""})"),
       "content.email", "required"},
      {"email_html_type", EmailRequest(R"({"from":"a@shop.example","subject":"s","html":{}})"),
       "content.email.html", "type"},
      {"email_unsubscribe_http",
       EmailRequest(
           R"({"from":"a@shop.example","subject":"s","text":"t","unsubscribe_url":"http://shop.example/u"})"),
       "content.email.unsubscribe_url", "url"},
      {"email_unsubscribe_second_target",
       EmailRequest(
           R"({"from":"a@shop.example","subject":"s","text":"t","unsubscribe_url":"https://shop.example/u>,<https://evil.example/x"})"),
       "content.email.unsubscribe_url", "url"},
      {"email_unsubscribe_bad_mailto",
       EmailRequest(
           R"({"from":"a@shop.example","subject":"s","text":"t","unsubscribe_url":"mailto:nobody"})"),
       "content.email.unsubscribe_url", "url"},
      // content.webpush
      {"webpush_title_missing", WebPushRequest(R"({"body":"b"})"), "content.webpush.title",
       "required"},
      {"webpush_title_empty", WebPushRequest(R"({"title":""})"), "content.webpush.title", "empty"},
      {"webpush_title_too_long", WebPushRequest(R"({"title":")" + Repeat("ü", 257) + R"("})"),
       "content.webpush.title", "max_length"},
      {"webpush_body_type", WebPushRequest(R"({"title":"t","body":1})"), "content.webpush.body",
       "type"},
      {"webpush_url_javascript", WebPushRequest(R"j({"title":"t","url":"javascript:alert(1)"})j"),
       "content.webpush.url", "url"},
      {"webpush_icon_http", WebPushRequest(R"({"title":"t","icon":"http://x.example/i.png"})"),
       "content.webpush.icon", "url"},
      {"webpush_ttl_malformed", WebPushRequest(R"({"title":"t","ttl":"1 day"})"),
       "content.webpush.ttl", "duration"},
      {"webpush_ttl_negative", WebPushRequest(R"({"title":"t","ttl":"-1s"})"),
       "content.webpush.ttl", "duration"},
      {"webpush_ttl_too_long", WebPushRequest(R"({"title":"t","ttl":"29d"})"),
       "content.webpush.ttl", "range"},
      {"webpush_urgency_unknown", WebPushRequest(R"({"title":"t","urgency":"urgent"})"),
       "content.webpush.urgency", "enum"},
      {"webpush_urgency_underscore", WebPushRequest(R"({"title":"t","urgency":"very_low"})"),
       "content.webpush.urgency", "enum"},
      {"webpush_topic_empty", WebPushRequest(R"({"title":"t","topic":""})"),
       "content.webpush.topic", "empty"},
      {"webpush_topic_too_long",
       WebPushRequest(R"({"title":"t","topic":")" + Repeat("a", 33) + R"("})"),
       "content.webpush.topic", "max_length"},
      {"webpush_topic_charset", WebPushRequest(R"({"title":"t","topic":"order 7781"})"),
       "content.webpush.topic", "base64url"},
      {"webpush_payload_too_large",
       WebPushRequest(R"({"title":"t","body":")" + Repeat("x", 4000) + R"("})"), "content.webpush",
       "max_length"},
      // schedule
      {"send_at_type", Req{.extra = R"("send_at":1700000000)"}.Json(), "send_at", "type"},
      {"send_at_space", Req{.extra = R"("send_at":"2026-11-22 10:00:00Z")"}.Json(), "send_at",
       "timestamp"},
      {"send_at_no_zone", Req{.extra = R"("send_at":"2026-11-22T10:00:00")"}.Json(), "send_at",
       "timestamp"},
      {"send_at_date_only", Req{.extra = R"("send_at":"2026-11-22")"}.Json(), "send_at",
       "timestamp"},
      {"send_at_feb_30", Req{.extra = R"("send_at":"2026-02-30T00:00:00Z")"}.Json(), "send_at",
       "timestamp"},
      {"send_at_feb_29_non_leap", Req{.extra = R"("send_at":"2026-02-29T00:00:00Z")"}.Json(),
       "send_at", "timestamp"},
      {"send_at_hour_24", Req{.extra = R"("send_at":"2026-11-22T24:00:00Z")"}.Json(), "send_at",
       "timestamp"},
      {"send_at_empty_fraction", Req{.extra = R"("send_at":"2026-11-22T10:00:00.Z")"}.Json(),
       "send_at", "timestamp"},
      {"send_at_short_offset", Req{.extra = R"("send_at":"2026-11-22T10:00:00+02")"}.Json(),
       "send_at", "timestamp"},
      {"expires_at_malformed", Req{.extra = R"("expires_at":"tomorrow")"}.Json(), "expires_at",
       "timestamp"},
      // Hardening #11: repeated keys meant one thing here (first wins) and
      // another to upstream validators (last wins).
      {"duplicate_key_root",
       R"({"id":"a","id":"b","to":{"phone":"+40700000001"},"channels":["sms"],"content":{"sms":{"text":"x"}}})",
       "id", "duplicate_key"},
      {"duplicate_key_nested",
       R"({"id":"a","to":{"phone":"+40700000001","phone":"+40700000002"},"channels":["sms"],"content":{"sms":{"text":"x"}}})",
       "to.phone", "duplicate_key"},
      {"duplicate_key_escaped",
       R"({"id":"a","to":{"phone":"+40700000001"},"channels":["sms"],"content":{"sms":{"text":"x","t\u0065xt":"y"}}})",
       "content.sms.text", "duplicate_key"},
      {"duplicate_key_in_ignored_field",
       Req{.extra = R"("meta":{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":0})"}.Json(),
       "meta.k3", "duplicate_key"},
      // Hardening #6: outside 1678-2262 the nanosecond clock wrapped (2300
      // expired at once, 9999 was sent at once, 1600 parked for 158 years).
      {"expires_at_year_2300", Req{.extra = R"("expires_at":"2300-01-01T00:00:00Z")"}.Json(),
       "expires_at", "range"},
      {"send_at_year_9999", Req{.extra = R"("send_at":"9999-12-31T23:59:59Z")"}.Json(), "send_at",
       "range"},
      {"send_at_year_1600", Req{.extra = R"("send_at":"1600-01-01T00:00:00Z")"}.Json(), "send_at",
       "range"},
      {"send_at_year_2262", Req{.extra = R"("send_at":"2262-04-12T00:00:00Z")"}.Json(), "send_at",
       "range"},
      // Outside what system_clock holds: converting these overflowed (found by
      // tests/fuzz/request_decoder_fuzz.cc), and 2300 wrapped into the past.
      {"send_at_year_1013", Req{.extra = R"("send_at":"1013-11-22T10:00:00Z")"}.Json(), "send_at",
       "range"},
      {"send_at_year_2300_fuzz", Req{.extra = R"("send_at":"2300-01-01T00:00:00Z")"}.Json(), "send_at",
       "range"},
      {"expires_at_year_9999", Req{.extra = R"("expires_at":"9999-12-31T23:59:60-23:59")"}.Json(),
       "expires_at", "range"},
      {"expires_at_before_send_at",
       Req{.extra = R"("send_at":"2026-11-22T10:00:00Z","expires_at":"2026-11-22T09:59:59Z")"}
           .Json(),
       "expires_at", "order"},
      {"expires_at_equal_send_at",
       Req{.extra = R"("send_at":"2026-11-22T12:00:00+02:00","expires_at":"2026-11-22T10:00:00Z")"}
           .Json(),
       "expires_at", "order"},
      // campaign and tags
      {"campaign_type", Req{.extra = R"("campaign":["a"])"}.Json(), "campaign", "type"},
      {"campaign_too_long", Req{.extra = R"("campaign":")" + s129 + R"(")"}.Json(), "campaign",
       "max_length"},
      {"tags_type", Req{.extra = R"("tags":"order")"}.Json(), "tags", "type"},
      {"tags_too_many", Req{.extra = too_many_tags}.Json(), "tags", "max_length"},
      {"tags_item_type", Req{.extra = R"("tags":["a",1])"}.Json(), "tags[1]", "type"},
      {"tags_item_empty", Req{.extra = R"("tags":[""])"}.Json(), "tags[0]", "empty"},
      {"tags_item_too_long", Req{.extra = R"("tags":[")" + Repeat("t", 65) + R"("])"}.Json(),
       "tags[0]", "max_length"},
  };
}

class RejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RejectTest, ReportsFieldAndRule) {
  const RejectCase& c = GetParam();
  RequestDecoder decoder;
  auto result = decoder.Decode(c.json, Lane::transactional);
  ASSERT_FALSE(result) << c.json;
  EXPECT_EQ(result.error().field, c.field) << result.error().ToString() << "\n" << c.json;
  EXPECT_EQ(result.error().rule, c.rule) << result.error().ToString() << "\n" << c.json;
  EXPECT_FALSE(result.error().detail.empty());
}

INSTANTIATE_TEST_SUITE_P(EveryRule, RejectTest, ::testing::ValuesIn(RejectCases()),
                         [](const ::testing::TestParamInfo<RejectCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(RequestDecoder, RejectsBodiesOver256KiB) {
  RequestDecoder decoder;
  Req big{.extra = R"("padding":")" + Repeat("x", 256 * 1024) + R"(")"};
  auto result = decoder.Decode(big.Json(), Lane::transactional);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().field, "");
  EXPECT_EQ(result.error().rule, "max_length");
  EXPECT_NE(result.error().detail.find("262144"), std::string::npos) << result.error().detail;

  // Just under the limit is parsed (and the unknown field ignored).
  std::string fits = Req{.extra = R"("padding":"")"}.Json();
  fits.insert(fits.size() - 2, 256 * 1024 - fits.size(), 'x');
  ASSERT_EQ(fits.size(), 256u * 1024);
  auto ok = decoder.Decode(fits, Lane::transactional);
  EXPECT_TRUE(ok) << ok.error().ToString();
}

TEST(RequestDecoder, JsonErrorsCarrySimdjsonsMessage) {
  RequestDecoder decoder;
  auto result = decoder.Decode(R"({"id": tru})", Lane::transactional);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().rule, "json");
  EXPECT_NE(result.error().detail.find("invalid JSON: "), std::string::npos);
  EXPECT_GT(result.error().detail.size(), std::string_view("invalid JSON: ").size());
}

TEST(RequestDecoder, DetailsAreSpecific) {
  RequestDecoder decoder;
  auto type = decoder.Decode(Req{.id = R"("id":42)"}.Json(), Lane::transactional);
  EXPECT_EQ(type.error().detail, "expected string, got number");
  auto lane = decoder.Decode(Req{.extra = R"("lane":"x")"}.Json(), Lane::transactional);
  EXPECT_EQ(lane.error().detail, "must be one of: transactional, bulk");
  auto cascade = decoder.Decode(CascadeRequest(R"({"email":{}})"), Lane::transactional);
  EXPECT_EQ(cascade.error().detail, "must be one of the listed channels: viber, sms");
  auto channel = decoder.Decode(Req{.channels = R"("channels":["fax"])"}.Json(), Lane::bulk);
  EXPECT_EQ(channel.error().detail, "must be one of: email, sms, viber, webpush");
  auto range = decoder.Decode(CascadeRequest(R"({"viber":{"timeout":"8d"}})"), Lane::bulk);
  EXPECT_EQ(range.error().detail, "must be above 0 and at most 7d");
  auto length =
      decoder.Decode(SmsRequest(R"({"text":")" + Repeat("é", 1601) + R"("})"), Lane::bulk);
  EXPECT_EQ(length.error().detail, "must be at most 1600 characters, got 1601");
}

TEST(RequestDecoder, WebPushPayloadLimitIsExactAndCountsEscapes) {
  // {"title":"T","body":"<n>","url":"","icon":""}
  const std::size_t overhead =
      std::string_view(R"({"title":"T","body":"","url":"","icon":""})").size();
  const std::size_t room = 3993 - overhead;
  RequestDecoder decoder;
  auto at_limit = decoder.Decode(
      WebPushRequest(R"({"title":"T","body":")" + Repeat("x", room) + R"("})"), Lane::bulk);
  EXPECT_TRUE(at_limit) << at_limit.error().ToString();
  auto over = decoder.Decode(
      WebPushRequest(R"({"title":"T","body":")" + Repeat("x", room + 1) + R"("})"), Lane::bulk);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().field, "content.webpush");
  EXPECT_EQ(over.error().rule, "max_length");
  EXPECT_NE(over.error().detail.find("3993"), std::string::npos) << over.error().detail;
  EXPECT_NE(over.error().detail.find("3994"), std::string::npos) << over.error().detail;
  // Each quote is two bytes once serialized, so this body is over the limit
  // although it is shorter than `room` as text.
  auto escaped = decoder.Decode(
      WebPushRequest(R"({"title":"T","body":")" + Repeat(R"(\")", room / 2 + 1) + R"("})"),
      Lane::bulk);
  ASSERT_FALSE(escaped);
  EXPECT_EQ(escaped.error().rule, "max_length");
  // url and icon count too.
  auto with_url =
      decoder.Decode(WebPushRequest(R"({"title":"T","url":"https://x.example/","body":")" +
                                    Repeat("x", room - 17) + R"("})"),
                     Lane::bulk);
  ASSERT_FALSE(with_url);
  EXPECT_EQ(with_url.error().field, "content.webpush");
}

TEST(RequestDecoder, ParsesTimestampsWithOffsetsAndFractions) {
  RequestDecoder decoder;
  auto r = decoder.Decode(
      Req{.extra =
              R"("send_at":"2026-11-22T12:30:00.123456789+02:30","expires_at":"2028-02-29T23:59:59.5-01:00")"}
          .Json(),
      Lane::bulk);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r->send_at, Day(2026, 11, 22) + 10h + std::chrono::nanoseconds(123456789));
  EXPECT_EQ(*r->expires_at, Day(2028, 3, 1) + 59min + 59s + 500ms);
}

TEST(RequestDecoder, CascadeStepValues) {
  RequestDecoder decoder;
  auto r = decoder.Decode(
      Req{.to = R"("to":{"phone":"+40700000001","viber":"v1","email":"a@b.example"})",
          .channels = R"("channels":["viber","email","sms"])",
          .content =
              R"("content":{"sms":{"text":"hi"},"viber":{"text":"hi"},"email":{"from":"a@b.example","subject":"s","text":"t"}})",
          .extra =
              R"("cascade":{"email":{"wait_for":"read","timeout":"2h"},"viber":{"wait_for":"sent"}})"}
          .Json(),
      Lane::bulk);
  ASSERT_TRUE(r) << r.error().ToString();
  const auto& viber = r->cascade[static_cast<std::size_t>(Channel::viber)];
  const auto& email = r->cascade[static_cast<std::size_t>(Channel::email)];
  ASSERT_TRUE(viber && email);
  EXPECT_EQ(viber->wait_for, WaitFor::sent);
  EXPECT_EQ(viber->timeout, 10min);
  EXPECT_EQ(email->wait_for, WaitFor::read);
  EXPECT_EQ(email->timeout, 2h);
  EXPECT_FALSE(r->cascade[static_cast<std::size_t>(Channel::sms)]);
}

TEST(RequestDecoder, UrgencyValues) {
  RequestDecoder decoder;
  const std::pair<const char*, Urgency> cases[] = {{"very-low", Urgency::very_low},
                                                   {"low", Urgency::low},
                                                   {"normal", Urgency::normal},
                                                   {"high", Urgency::high}};
  for (const auto& [text, urgency] : cases) {
    auto r = decoder.Decode(
        WebPushRequest(R"({"title":"t","urgency":")" + std::string(text) + R"(","ttl":"90s"})"),
        Lane::bulk);
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(r->webpush->urgency, urgency) << text;
    EXPECT_EQ(r->webpush->ttl, 90s);
  }
}

// The first error in the documented check order wins, whatever the order of
// keys in the document.
TEST(RequestDecoder, ReportsTheFirstErrorInCheckOrderRegardlessOfKeyOrder) {
  RequestDecoder decoder;
  const std::string a =
      R"({"id":"a b","to":{"phone":"0700"},"channels":["fax"],"content":{"sms":{}}})";
  const std::string b =
      R"({"content":{"sms":{}},"channels":["fax"],"to":{"phone":"0700"},"id":"a b"})";
  for (const auto& json : {a, b}) {
    auto r = decoder.Decode(json, Lane::bulk);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().field, "id");
  }
  const std::string c =
      R"({"tags":[1],"channels":["sms","sms"],"to":{"timezone":"x","email":"y"},"id":"i"})";
  auto r = decoder.Decode(c, Lane::bulk);
  EXPECT_EQ(r.error().field, "to.email");
  auto d = decoder.Decode(R"({"tags":[1],"channels":["sms","sms"],"to":{},"id":"i"})", Lane::bulk);
  EXPECT_EQ(d.error().field, "channels[1]");
  // Content blocks are checked before the listed channels' completeness.
  auto e = decoder.Decode(Req{.channels = R"("channels":["sms","viber"])",
                              .content = R"("content":{"sms":{"text":"hi"},"email":{"from":"x"}})"}
                              .Json(),
                          Lane::bulk);
  EXPECT_EQ(e.error().field, "content.email.from");
}

TEST(RequestDecoder, ValidationErrorToString) {
  EXPECT_EQ(
      (ValidationError{"to.phone", "e164", "must be '+' followed by 7 to 15 digits"}.ToString()),
      "to.phone: e164: must be '+' followed by 7 to 15 digits");
  EXPECT_EQ((ValidationError{"", "json", "invalid JSON: x"}.ToString()), "json: invalid JSON: x");
  RequestDecoder decoder;
  auto r = decoder.Decode(Req{.to = R"("to":{"phone":"0700"})"}.Json(), Lane::bulk);
  EXPECT_EQ(r.error().ToString(), "to.phone: e164: must be '+' followed by 7 to 15 digits");
}

// ---- reuse and buffers -----------------------------------------------------

TEST(RequestDecoder, ReusesOneDecoderAcrossManyCalls) {
  RequestDecoder decoder;
  const std::string full = FullExample();
  for (int i = 0; i < 2000; ++i) {
    const std::string id = "req-" + std::to_string(i);
    switch (i % 4) {
      case 0: {
        auto r = decoder.Decode(full, Lane::bulk);
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->tags.size(), 1u);
        break;
      }
      case 1: {
        auto r = decoder.Decode(Req{.id = R"("id":")" + id + R"(")"}.Json(), Lane::bulk);
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->id, id);
        EXPECT_FALSE(r->viber);
        break;
      }
      case 2: {
        auto r = decoder.Decode("{", Lane::bulk);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().rule, "json");
        break;
      }
      default: {
        auto r = decoder.Decode(Req{.to = R"("to":{"phone":"1"})"}.Json(), Lane::bulk);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().rule, "e164");
      }
    }
  }
}

TEST(RequestDecoder, ShortInputAfterLongInputSeesOnlyItsOwnBytes) {
  RequestDecoder decoder;
  const std::string long_json = EmailRequest(R"({"from":"a@shop.example","subject":"s","html":")" +
                                             Repeat("<p>x</p>", 20000) + R"("})");
  ASSERT_TRUE(decoder.Decode(long_json, Lane::bulk));
  // A prefix of the long request: if the decoder looked past the given
  // length, it would find the rest of the previous document there.
  const std::string_view prefix = std::string_view(long_json).substr(0, long_json.size() - 1);
  auto truncated = decoder.Decode(prefix, Lane::bulk);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().rule, "json");
  auto short_ok = decoder.Decode(Req{.id = R"("id":"s")"}.Json(), Lane::bulk);
  ASSERT_TRUE(short_ok);
  EXPECT_EQ(short_ok->id, "s");
  EXPECT_FALSE(short_ok->email);
  auto empty = decoder.Decode("", Lane::bulk);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().rule, "json");
}

// Kafka payloads are not padded: the last byte may be the last readable byte
// of a page. Reading past it would fault here.
TEST(RequestDecoder, ReadsNothingPastTheInput) {
  const long page = sysconf(_SC_PAGESIZE);
  ASSERT_GT(page, 0);
  const auto page_size = static_cast<std::size_t>(page);
  void* mapping =
      mmap(nullptr, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mapping, MAP_FAILED);
  auto* base = static_cast<char*>(mapping);
  ASSERT_EQ(mprotect(base + page_size, page_size, PROT_NONE), 0);

  RequestDecoder decoder;
  for (const std::string& json : {Req{}.Json(), FullExample(), std::string("{\"id\":")}) {
    ASSERT_LE(json.size(), page_size);
    char* start = base + page_size - json.size();
    std::memcpy(start, json.data(), json.size());
    auto r = decoder.Decode(std::string_view(start, json.size()), Lane::bulk);
    EXPECT_EQ(static_cast<bool>(r), json.back() == '}') << json;
  }
  munmap(mapping, 2 * page_size);
}

TEST(RequestDecoder, AcceptsAStringWithExactCapacity) {
  const std::string json = Req{}.Json();
  std::string exact;
  exact.reserve(json.size());
  exact = json;
  RequestDecoder decoder;
  auto r = decoder.Decode(exact, Lane::bulk);
  EXPECT_TRUE(r);
}

}  // namespace
}  // namespace omnigate::gateway
