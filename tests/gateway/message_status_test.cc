#include "gateway/message_status.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "gateway/event.h"

namespace omnigate::gateway {
namespace {

TEST(MessageStatus, HistoryItemsKeepCommasAndPercentSigns) {
  std::string list;
  AppendHistoryItem(R"({"a":"1,2","b":"50%"})", list);
  AppendHistoryItem(R"({"c":"%2C"})", list);
  EXPECT_EQ(std::count(list.begin(), list.end(), ','), 1);  // the separator only
  const auto items = SplitHistory(list);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], R"({"a":"1,2","b":"50%"})");
  EXPECT_EQ(items[1], R"({"c":"%2C"})");
  // A damaged item is skipped, the others survive.
  EXPECT_EQ(SplitHistory("%zz," + list).size(), 2u);
  EXPECT_TRUE(SplitHistory("").empty());
}

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
  EXPECT_FALSE(DecodeSentRef(""));
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tfax\ta"));       // no such channel
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tsms"));          // a field short
  EXPECT_FALSE(DecodeSentRef("p\tt\ti\tsms\ta\tmore"));  // one too many
  EXPECT_FALSE(DecodeSentRef("p\t\ti\tsms\ta"));        // no tenant
}

TEST(MessageStatus, RenderShowsTheSummaryEveryEventAndTheLatestStatus) {
  SendRequest req;
  req.id = "o-1";
  req.tenant = "shop";
  req.to.phone = "+40700000123";
  req.channels = {Channel::sms};
  std::string list;
  std::string item;
  AppendRequestSummary(req, item);
  AppendHistoryItem(item, list);
  for (auto [seq, status, final] : {std::tuple{1u, EventStatus::accepted, false},
                                    std::tuple{2u, EventStatus::sent, true},
                                    std::tuple{3u, EventStatus::delivered, false}}) {
    Event e{.id = "o-1", .tenant = "shop", .seq = seq, .status = status, .final = final,
            .channel = "sms", .reason = "a, reason with a comma"};
    item.clear();
    AppendEventJson(e, item);
    AppendHistoryItem(item, list);
  }
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
  EXPECT_EQ(doc["events"].get_array().size(), 3u);
  std::string_view reason;
  ASSERT_EQ(doc["events"].at(0)["reason"].get(reason), simdjson::SUCCESS);
  EXPECT_EQ(reason, "a, reason with a comma");
  std::string_view phone;
  ASSERT_EQ(doc["request"]["to"]["phone"].get(phone), simdjson::SUCCESS);
  EXPECT_EQ(phone.find("700000123"), std::string_view::npos);
}

}  // namespace
}  // namespace omnigate::gateway
