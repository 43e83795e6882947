#include "gateway/message_status.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>

#include "gateway/event.h"

namespace omnigate::gateway {
namespace {

TEST(MessageStatus, TheSummaryMasksEveryAddress) {
  SendRequest req;
  req.id = "order-1";
  req.tenant = "shop";
  req.lane = Lane::bulk;
  req.to.phone = "+40700000123";
  req.to.email = "ana.maria@example.com";
  req.to.viber = "+40700000123";
  req.to.webpush = WebPushSubscription{.endpoint = "https://push.example.net/wpush/v2/secret-path"};
  req.channels = {Channel::viber, Channel::sms};
  req.campaign = "autumn";
  std::string out;
  AppendRequestSummary(req, out);
  EXPECT_EQ(out.find("700000123"), std::string::npos) << out;
  EXPECT_EQ(out.find("ana.maria"), std::string::npos) << out;
  EXPECT_EQ(out.find("secret-path"), std::string::npos) << out;
  EXPECT_NE(out.find("example.com"), std::string::npos) << out;
  EXPECT_NE(out.find("https://push.example.net/"), std::string::npos) << out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
  std::string_view lane;
  ASSERT_EQ(doc["request"]["lane"].get(lane), simdjson::SUCCESS);
  EXPECT_EQ(lane, "bulk");
  EXPECT_EQ(doc["request"]["channels"].get_array().size(), 2u);
}

TEST(MessageStatus, SentRefRoundTripsAndRefusesDamage) {
  const SentRef ref{.provider = "sms-main", .tenant = "shop", .id = "order 1",
                    .channel = Channel::viber, .address = "+40700000123"};
  const auto back = DecodeSentRef(EncodeSentRef(ref));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->provider, "sms-main");
  EXPECT_EQ(back->tenant, "shop");
  EXPECT_EQ(back->id, "order 1");
  EXPECT_EQ(back->channel, Channel::viber);
  EXPECT_EQ(back->address, "+40700000123");
  EXPECT_FALSE(back->waits);
  SentRef waiting = ref;
  waiting.waits = true;
  EXPECT_TRUE(DecodeSentRef(EncodeSentRef(waiting))->waits);
  // Written before the flag: it may be a waiting step, so it is looked up.
  EXPECT_TRUE(DecodeSentRef("p\tt\ti\tsms\ta")->waits);
  EXPECT_FALSE(DecodeSentRef(""));
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tfax\ta\t-"));    // no such channel
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tsms"));          // a field short
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tsms\ta\tw\tmore"));  // one too many
  EXPECT_FALSE(DecodeSentRef("p\t\ti\tsms\ta"));        // no tenant
}

// What a request's history renders as: the summary, every event as Kafka
// had it (id, tenant and campaign restored from the key and the summary),
// the latest status; separators inside fields survive the round trip, and
// a damaged item is left out without losing the rest.
TEST(MessageStatus, RenderShowsTheSummaryEveryEventAndTheLatestStatus) {
  SendRequest req;
  req.id = "o-1";
  req.tenant = "shop";
  req.to.phone = "+40700000123";
  req.channels = {Channel::sms};
  req.campaign = "autumn";
  std::string list;
  AppendHistorySummary(req, list);
  std::vector<std::string> expected;
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'764'716'400'123));
  for (auto [seq, status, final] : {std::tuple{1u, EventStatus::accepted, false},
                                    std::tuple{2u, EventStatus::sent, true},
                                    std::tuple{3u, EventStatus::delivered, false}}) {
    Event e{.id = "o-1", .tenant = "shop", .seq = seq, .status = status, .final = final,
            .channel = "sms", .provider = seq > 1 ? "sms-main" : "",
            .provider_message_id = seq > 1 ? "SM|1,2%" : "", .attempt = seq > 1 ? 1u : 0u,
            .reason = "a, reason | with 100% separators", .campaign = "autumn",
            .ts = t0 + std::chrono::milliseconds(seq), .segments = seq == 2 ? 2 : 0};
    AppendHistoryEvent(e, list);
    std::string json;
    AppendEventJson(e, json);
    expected.push_back(json);
    if (seq == 1) list += ",e|damaged";
  }
  EXPECT_LT(list.size(), 520u) << list;  // compact: no JSON per event
  const std::string body = RenderMessage("shop", "o-1", list);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(body).get(doc), simdjson::SUCCESS) << body;
  std::string_view status;
  ASSERT_EQ(doc["status"].get(status), simdjson::SUCCESS);
  EXPECT_EQ(status, "delivered");
  bool final = false;
  ASSERT_EQ(doc["final"].get(final), simdjson::SUCCESS);
  EXPECT_TRUE(final);
  simdjson::dom::array events;
  ASSERT_EQ(doc["events"].get(events), simdjson::SUCCESS);
  ASSERT_EQ(events.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(simdjson::minify(events.at(i)), expected[i]);
  }
  std::string_view phone;
  ASSERT_EQ(doc["request"]["to"]["phone"].get(phone), simdjson::SUCCESS);
  EXPECT_EQ(phone.find("700000123"), std::string_view::npos);
  // Nothing stored yet renders as an empty history.
  EXPECT_EQ(RenderMessage("shop", "o-1", ""),
            R"({"id":"o-1","tenant":"shop","request":null,"status":null,"final":false,"events":[]})");
}

}  // namespace
}  // namespace omnigate::gateway
