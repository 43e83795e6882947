#include "providers/viber/viber_receipt.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/providers/receipt_signer.h"

namespace omnigate::providers {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

constexpr char kToken[] = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";

// Callbacks as Viber's REST Bot API documents them.
constexpr char kDelivered[] =
    R"({"event":"delivered","timestamp":1457764197627,"chat_hostname":"SN-CHAT-05_",)"
    R"("message_token":4912661846655238145,"user_id":"01234567890A="})";
constexpr char kSeen[] =
    R"({"event":"seen","timestamp":1457764197627,"chat_hostname":"SN-CHAT-05_",)"
    R"("message_token":4912661846655238145,"user_id":"01234567890A="})";
constexpr char kFailed[] =
    R"({"event":"failed","timestamp":1457764197627,"chat_hostname":"SN-CHAT-05_",)"
    R"("message_token":4912661846655238145,"user_id":"01234567890A=","desc":"failure description"})";
constexpr char kUnsubscribed[] =
    R"({"event":"unsubscribed","timestamp":1457764197627,"chat_hostname":"SN-CHAT-05_",)"
    R"("user_id":"01234567890A=","message_token":4912661846655238145})";

TEST(ViberReceiptMapping, ReceiptEvents) {
  auto r = ParseViberCallbackBody(kDelivered);
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().raw_status, "delivered");
  EXPECT_EQ(r->front().provider_message_id, "4912661846655238145");
  EXPECT_EQ(r->front().timestamp_ms, 1457764197627);
  EXPECT_EQ(r->front().address, "01234567890A=");
  EXPECT_TRUE(r->front().error_code.empty());
  EXPECT_TRUE(r->front().suppress_reason.empty());
  EXPECT_TRUE(r->front().dedup_key.empty());

  r = ParseViberCallbackBody(kSeen);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::read);
  EXPECT_EQ(r->front().raw_status, "seen");

  r = ParseViberCallbackBody(kFailed);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::failed);
  EXPECT_EQ(r->front().error_code, "failure description");
  EXPECT_TRUE(r->front().suppress_reason.empty());

  r = ParseViberCallbackBody(kUnsubscribed);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::unsubscribed);
  EXPECT_EQ(r->front().suppress_reason, "unsubscribed");
  EXPECT_EQ(r->front().address, "01234567890A=");
  // The token of an unsubscribe names the callback, not a message we sent.
  EXPECT_TRUE(r->front().provider_message_id.empty());

  r = ParseViberCallbackBody(R"({"event":"unsubscribed","timestamp":1,"user_id":"u1"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().address, "u1");
}

TEST(ViberReceiptMapping, TokensKeepAllSixtyFourBits) {
  // Above INT64_MAX: what the send recorded is the unsigned decimal text.
  auto r = ParseViberCallbackBody(
      R"({"event":"delivered","timestamp":1,"message_token":18446744073709551615,"user_id":"u"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().provider_message_id, "18446744073709551615");
  r = ParseViberCallbackBody(R"({"event":"seen","message_token":-5,"user_id":"u"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().provider_message_id, "-5");
  EXPECT_EQ(r->front().timestamp_ms, 0);
}

TEST(ViberReceiptMapping, ChatEventsAreNotReceipts) {
  for (
      const char* body :
      {R"({"event":"subscribed","timestamp":1457764197627,"user":{"id":"01234567890A=","name":"John"},"message_token":4912661846655238145})",
       R"({"event":"conversation_started","timestamp":1457764197627,"message_token":4912661846655238145,"type":"open","user":{"id":"01234567890A="},"subscribed":false})",
       R"({"event":"webhook","timestamp":1457764197627,"chat_hostname":"SN-platform","message_token":241256543215})",
       R"({"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,"sender":{"id":"01234567890A="},"message":{"type":"text","text":"STOP"}})",
       R"({"event":"client_status","timestamp":1})"}) {
    const auto r = ParseViberCallbackBody(body);
    ASSERT_TRUE(r) << body << ": " << r.error().reason;
    EXPECT_TRUE(r->empty()) << body;
  }
}

TEST(ViberReceiptMapping, MalformedBodiesAre400NamingWhatIsWrong) {
  struct Case {
    const char* body;
    const char* reason;
  };
  const Case cases[] = {
      {"", "not JSON"},
      {"{\"event\":", "not JSON"},
      {R"([{"event":"delivered"}])", "not a JSON object"},
      {R"({"timestamp":1})", "\"event\""},
      {R"({"event":7})", "\"event\""},
      {R"({"event":"delivered","user_id":"u"})", "message_token"},
      {R"({"event":"seen","message_token":"4912661846655238145"})", "message_token"},
      {R"({"event":"failed","message_token":1.5})", "message_token"},
      {R"({"event":"delivered","message_token":1e30})", "message_token"},
      {R"({"event":"unsubscribed","timestamp":1})", "user_id"},
  };
  for (const auto& c : cases) {
    const auto r = ParseViberCallbackBody(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().reason.find(c.reason), std::string::npos) << r.error().reason;
  }
}

TEST(ViberReceipt, MissingSignatureOrTokenIs401) {
  auto r = ParseViberCallback(kDelivered, "", kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("X-Viber-Content-Signature"), std::string::npos);
  r = ParseViberCallback(kDelivered, ComputeViberSignature(kToken, kDelivered), "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("auth_token"), std::string::npos);
}

// Signatures made with Node's crypto.
class ViberReceiptSigned : public peers::NodeSignedTest {};

TEST_F(ViberReceiptSigned, AcceptsCallbacksSignedWithNodeCrypto) {
  const std::string utf8 =
      R"({"event":"failed","timestamp":1457764197627,"message_token":5741311803571721087,)"
      R"("user_id":"01234567890A=","desc":"Grüße ✓"})";
  const auto signatures =
      peers::SignWithNode({peers::ViberJob(kToken, kDelivered), peers::ViberJob(kToken, utf8),
                           peers::ViberJob(kToken, kUnsubscribed)});
  ASSERT_EQ(signatures.size(), 3u);
  EXPECT_EQ(ComputeViberSignature(kToken, kDelivered), signatures[0].at("signature"));

  auto r = ParseViberCallback(kDelivered, signatures[0].at("signature"), kToken);
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().provider_message_id, "4912661846655238145");

  r = ParseViberCallback(utf8, signatures[1].at("signature"), kToken);
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().error_code, "Grüße ✓");
  EXPECT_EQ(r->front().provider_message_id, "5741311803571721087");

  // Hex digits in upper case are the same signature.
  r = ParseViberCallback(kUnsubscribed, Upper(signatures[2].at("signature")), kToken);
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().suppress_reason, "unsubscribed");
}

TEST_F(ViberReceiptSigned, RefusesATamperedBodyOrAnotherToken) {
  const auto signatures = peers::SignWithNode(
      {peers::ViberJob(kToken, kDelivered), peers::ViberJob("another-bots-token", kDelivered)});
  ASSERT_EQ(signatures.size(), 2u);
  std::string tampered = kDelivered;
  tampered.replace(tampered.find("delivered"), 9, "seen");
  auto r = ParseViberCallback(tampered, signatures[0].at("signature"), kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("does not match"), std::string::npos);

  r = ParseViberCallback(kDelivered, signatures[1].at("signature"), kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);

  // A prefix of the right signature is no signature.
  r = ParseViberCallback(kDelivered, signatures[0].at("signature").substr(0, 32), kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
}

TEST_F(ViberReceiptSigned, SignedButMalformedBodyIs400) {
  const std::string body = R"({"event":"delivered","user_id":"u"})";
  const auto signatures = peers::SignWithNode({peers::ViberJob(kToken, body)});
  ASSERT_EQ(signatures.size(), 1u);
  const auto r = ParseViberCallback(body, signatures[0].at("signature"), kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().reason.find("message_token"), std::string::npos);
}

}  // namespace
}  // namespace omnigate::providers
