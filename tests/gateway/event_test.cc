#include "gateway/event.h"

#include <gtest/gtest.h>

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace omnigate::gateway {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::system_clock;

system_clock::time_point At(int y, unsigned m, unsigned d, std::chrono::nanoseconds time) {
  return system_clock::time_point{
      sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}} + time};
}

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(text, out);
  return out;
}

std::string Timestamp(system_clock::time_point ts) {
  std::string out;
  AppendTimestamp(ts, out);
  return out;
}

TEST(EventStatus, NamesMatchTheEnum) {
  const std::pair<EventStatus, std::string_view> names[] = {
      {EventStatus::accepted, "accepted"},   {EventStatus::scheduled, "scheduled"},
      {EventStatus::deferred, "deferred"},   {EventStatus::sent, "sent"},
      {EventStatus::delivered, "delivered"}, {EventStatus::read, "read"},
      {EventStatus::retrying, "retrying"},   {EventStatus::fallback, "fallback"},
      {EventStatus::duplicate, "duplicate"}, {EventStatus::suppressed, "suppressed"},
      {EventStatus::rejected, "rejected"},   {EventStatus::failed, "failed"},
      {EventStatus::expired, "expired"},
      {EventStatus::undelivered, "undelivered"},
      {EventStatus::opened, "opened"},
      {EventStatus::clicked, "clicked"},
      {EventStatus::unsubscribed, "unsubscribed"},
      {EventStatus::complained, "complained"},
  };
  for (const auto& [status, name] : names) EXPECT_EQ(ToString(status), name);
}

TEST(AppendEventJson, FullEventHasTheDesignShapeAndKeyOrder) {
  Event e;
  e.id = "order-7781-shipped";
  e.tenant = "shop-ro";
  e.seq = 4;
  e.status = EventStatus::delivered;
  e.final = true;
  e.channel = "sms";
  e.provider = "sms-main";
  e.provider_message_id = "SM9f";
  e.attempt = 1;
  e.campaign = "autumn-sale";
  e.ts = At(2026, 11, 22, 10h + 1s + 234ms);
  std::string out;
  AppendEventJson(e, out);
  EXPECT_EQ(
      out,
      R"({"id":"order-7781-shipped","tenant":"shop-ro","seq":4,"status":"delivered",)"
      R"("final":true,"channel":"sms","provider":"sms-main","provider_message_id":"SM9f",)"
      R"("attempt":1,"reason":null,"campaign":"autumn-sale","ts":"2026-11-22T10:00:01.234Z"})");
}

TEST(AppendEventJson, MinimalEventWritesNulls) {
  Event e;
  e.id = "r1";
  e.tenant = "default";
  e.status = EventStatus::accepted;
  e.ts = system_clock::time_point{};
  std::string out;
  AppendEventJson(e, out);
  EXPECT_EQ(out, R"({"id":"r1","tenant":"default","seq":0,"status":"accepted","final":false,)"
                 R"("channel":null,"provider":null,"provider_message_id":null,"attempt":0,)"
                 R"("reason":null,"campaign":null,"ts":"1970-01-01T00:00:00.000Z"})");
}

TEST(AppendEventJson, SegmentsOnlyWhenPositiveAndAppendsToOut) {
  Event e;
  e.id = "r";
  e.tenant = "t";
  e.seq = 4294967295u;
  e.status = EventStatus::sent;
  e.final = true;
  e.channel = "sms";
  e.attempt = 3;
  e.reason = "boom";
  e.segments = 3;
  e.ts = At(2026, 1, 2, 3h + 4min + 5s + 6ms);
  std::string out = "prefix:";
  AppendEventJson(e, out);
  EXPECT_EQ(out,
            R"(prefix:{"id":"r","tenant":"t","seq":4294967295,"status":"sent","final":true,)"
            R"("channel":"sms","provider":null,"provider_message_id":null,"attempt":3,)"
            R"("reason":"boom","campaign":null,"ts":"2026-01-02T03:04:05.006Z","segments":3})");
  e.segments = -1;
  out.clear();
  AppendEventJson(e, out);
  EXPECT_EQ(out.find("segments"), std::string::npos);
}

TEST(AppendJsonString, EscapesWhatRfc8259Requires) {
  EXPECT_EQ(Json(""), R"("")");
  EXPECT_EQ(Json("plain text"), R"("plain text")");
  EXPECT_EQ(Json(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(Json(R"(C:\dir\)"), R"("C:\\dir\\")");
  EXPECT_EQ(Json("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(Json(std::string_view("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Json("\x7f/<>'"), "\"\x7f/<>'\"");  // no need to escape DEL, '/' or HTML
}

TEST(AppendJsonString, PassesValidUtf8Through) {
  EXPECT_EQ(Json("Mulțumim, Ștefan"), "\"Mulțumim, Ștefan\"");
  EXPECT_EQ(Json("€ 😀 \u0080 \u07ff \uffff \U0010FFFF"), "\"€ 😀 \u0080 \u07ff \uffff \U0010FFFF\"");
}

TEST(AppendJsonString, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(Json("a\xff"
                 "b"),
            "\"a" + r + "b\"");
  EXPECT_EQ(Json("\x80"), "\"" + r + "\"");                          // lone continuation
  EXPECT_EQ(Json("\xc0\xaf"), "\"" + r + r + "\"");                  // overlong lead
  EXPECT_EQ(Json("\xe0\x80\x80"), "\"" + r + r + r + "\"");          // overlong 3-byte
  EXPECT_EQ(Json("\xed\xa0\x80"), "\"" + r + r + r + "\"");          // UTF-16 surrogate
  EXPECT_EQ(Json("\xf4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(Json("\xe2\x82x"), "\"" + r + "x\"");                    // truncated, then ASCII
  EXPECT_EQ(Json("ok\xf0\x9f\x98"), "\"ok" + r + "\"");              // truncated at the end
  EXPECT_EQ(Json("\xe2\x82\"\n"), "\"" + r + "\\\"\\n\"");           // truncated, then escapes
}

TEST(AppendTimestamp, FormatsRfc3339UtcWithMillis) {
  EXPECT_EQ(Timestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Timestamp(At(2026, 11, 22, 10h + 1s + 234ms)), "2026-11-22T10:00:01.234Z");
  EXPECT_EQ(Timestamp(At(2026, 12, 31, 23h + 59min + 59s + 999ms)), "2026-12-31T23:59:59.999Z");
}

TEST(AppendTimestamp, HandlesLeapYears) {
  EXPECT_EQ(Timestamp(At(2024, 2, 29, 12h)), "2024-02-29T12:00:00.000Z");
  EXPECT_EQ(Timestamp(At(2024, 2, 29, 24h)), "2024-03-01T00:00:00.000Z");
  EXPECT_EQ(Timestamp(At(2000, 2, 29, 0h)), "2000-02-29T00:00:00.000Z");   // 400-year rule
  EXPECT_EQ(Timestamp(At(2100, 2, 28, 24h)), "2100-03-01T00:00:00.000Z");  // 100-year rule
  EXPECT_EQ(Timestamp(At(2028, 12, 31, 0h)), "2028-12-31T00:00:00.000Z");  // day 366
}

TEST(AppendTimestamp, TruncatesToMilliseconds) {
  EXPECT_EQ(Timestamp(At(2026, 11, 22, 1234999999ns)), "2026-11-22T00:00:01.234Z");
  EXPECT_EQ(Timestamp(At(2026, 11, 22, 999999ns)), "2026-11-22T00:00:00.000Z");
  // Before 1970 truncation goes towards the past, not towards zero.
  EXPECT_EQ(Timestamp(system_clock::time_point{} - 1ns), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Timestamp(At(1969, 7, 20, 20h + 17min + 40s + 500us)), "1969-07-20T20:17:40.000Z");
}

TEST(AppendEventJson, RoundTripsThroughSimdjson) {
  const std::string nasty =
      "quote\" backslash\\ nl\n tab\t nul" + std::string(1, '\0') + " ctl\x1b ro:ăîșț emoji:😀";
  Event e;
  e.id = nasty;
  e.tenant = "t";
  e.seq = 7;
  e.status = EventStatus::fallback;
  e.channel = "viber";
  e.provider = "viber-main";
  e.provider_message_id = "m-1";
  e.attempt = 2;
  e.reason = "bad\xff";  // invalid UTF-8 must still produce parseable JSON
  e.campaign = "c";
  e.segments = 2;
  e.ts = At(2026, 11, 22, 10h + 1s + 234ms);
  std::string out;
  AppendEventJson(e, out);

  simdjson::dom::parser parser;
  simdjson::padded_string padded(out);
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(padded).get(doc), simdjson::SUCCESS) << out;
  std::string_view s;
  std::uint64_t n = 0;
  bool b = true;
  ASSERT_EQ(doc["id"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, nasty);
  ASSERT_EQ(doc["tenant"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "t");
  ASSERT_EQ(doc["seq"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 7u);
  ASSERT_EQ(doc["status"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "fallback");
  ASSERT_EQ(doc["final"].get(b), simdjson::SUCCESS);
  EXPECT_FALSE(b);
  ASSERT_EQ(doc["channel"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "viber");
  ASSERT_EQ(doc["provider"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "viber-main");
  ASSERT_EQ(doc["provider_message_id"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "m-1");
  ASSERT_EQ(doc["attempt"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(doc["reason"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "bad\xEF\xBF\xBD");
  ASSERT_EQ(doc["campaign"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "c");
  ASSERT_EQ(doc["ts"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "2026-11-22T10:00:01.234Z");
  ASSERT_EQ(doc["segments"].get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 2u);

  // Keys come out in the documented order.
  simdjson::dom::object object;
  ASSERT_EQ(doc.get(object), simdjson::SUCCESS);
  std::string keys;
  for (const auto member : object) {
    keys += member.key;
    keys += ',';
  }
  EXPECT_EQ(keys,
            "id,tenant,seq,status,final,channel,provider,provider_message_id,attempt,reason,"
            "campaign,ts,segments,");

  Event minimal;
  minimal.id = "x";
  out.clear();
  AppendEventJson(minimal, out);
  simdjson::padded_string padded_minimal(out);
  ASSERT_EQ(parser.parse(padded_minimal).get(doc), simdjson::SUCCESS) << out;
  for (const char* key : {"channel", "provider", "provider_message_id", "reason", "campaign"}) {
    EXPECT_TRUE(doc[key].is_null()) << key;
  }
  EXPECT_EQ(doc["segments"].error(), simdjson::NO_SUCH_FIELD);
}

}  // namespace
}  // namespace omnigate::gateway
