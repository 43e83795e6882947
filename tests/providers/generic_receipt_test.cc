#include "providers/generic/generic_receipt.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/providers/receipt_signer.h"

namespace omnigate::providers {
namespace {

using Mapping = GenericReceiptMapping;

constexpr char kSecret[] = "agg-webhook-secret-7f3a";

// An aggregator posting {"id", "status", "err", "event_id"} as JSON, signed
// with lower-case hex HMAC-SHA256 in X-Signature.
Mapping AggregatorJson() {
  Mapping m;
  m.format = Mapping::Format::json;
  m.message_id = "/id";
  m.status = "/status";
  m.error_code = "/err";
  m.event_id = "/event_id";
  m.statuses = {{"DELIVRD", ReceiptStatus::delivered}, {"UNDELIV", ReceiptStatus::undelivered},
                {"REJECTD", ReceiptStatus::failed},    {"READ", ReceiptStatus::read},
                {"STOP", ReceiptStatus::unsubscribed}, {"SPAM", ReceiptStatus::complained}};
  m.signature_header = "X-Signature";
  m.algorithm = Mapping::Algorithm::hmac_sha256;
  m.encoding = Mapping::Encoding::hex;
  m.secret = kSecret;
  return m;
}

// The same fields as a form, signed with base64 HMAC-SHA1 in X-Hub-Sig.
Mapping AggregatorForm() {
  Mapping m = AggregatorJson();
  m.format = Mapping::Format::form;
  m.message_id = "msgid";
  m.status = "stat";
  m.error_code = "err";
  m.event_id = "";
  m.signature_header = "X-Hub-Sig";
  m.algorithm = Mapping::Algorithm::hmac_sha1;
  m.encoding = Mapping::Encoding::base64;
  return m;
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

TEST(GenericReceiptMapping, JsonObjectIsOneReceipt) {
  const auto r = ParseGenericReceiptBody(
      AggregatorJson(), R"({"id":"agg-771","status":"UNDELIV","err":"E042","event_id":"ev-9"})");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  const Receipt& receipt = r->front();
  EXPECT_EQ(receipt.provider_message_id, "agg-771");
  EXPECT_EQ(receipt.status, ReceiptStatus::undelivered);
  EXPECT_EQ(receipt.raw_status, "UNDELIV");
  EXPECT_EQ(receipt.error_code, "E042");
  EXPECT_EQ(receipt.dedup_key, "ev-9");
  EXPECT_TRUE(receipt.suppress_reason.empty());
}

TEST(GenericReceiptMapping, PointersReachIntoNestedObjects) {
  Mapping m = AggregatorJson();
  m.message_id = "/msg/ids/0";
  m.status = "/report/state~1code";  // the member "state/code" (RFC 6901 ~1)
  const auto r = ParseGenericReceiptBody(
      m, R"({"msg":{"ids":["n-1","n-2"]},"report":{"state/code":"DELIVRD"}})");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().provider_message_id, "n-1");
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  // Optional fields the body lacks stay empty.
  EXPECT_TRUE(r->front().error_code.empty());
  EXPECT_TRUE(r->front().dedup_key.empty());
}

TEST(GenericReceiptMapping, JsonArrayIsABatch) {
  const auto r = ParseGenericReceiptBody(AggregatorJson(),
                                         R"([{"id":"a","status":"DELIVRD","event_id":"e1"},
                                             {"id":"b","status":"REJECTD","err":"blocked"},
                                             {"id":"c","status":"READ","err":null}])");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].provider_message_id, "a");
  EXPECT_EQ((*r)[0].status, ReceiptStatus::delivered);
  EXPECT_EQ((*r)[0].dedup_key, "e1");
  EXPECT_EQ((*r)[1].provider_message_id, "b");
  EXPECT_EQ((*r)[1].status, ReceiptStatus::failed);
  EXPECT_EQ((*r)[1].error_code, "blocked");
  EXPECT_TRUE((*r)[1].dedup_key.empty());
  EXPECT_EQ((*r)[2].status, ReceiptStatus::read);
  EXPECT_TRUE((*r)[2].error_code.empty());  // null is no error code

  const auto empty = ParseGenericReceiptBody(AggregatorJson(), "[]");
  ASSERT_TRUE(empty) << empty.error().reason;
  EXPECT_TRUE(empty->empty());
}

TEST(GenericReceiptMapping, FormBody) {
  const auto r = ParseGenericReceiptBody(
      AggregatorForm(), "msgid=agg%2F88&stat=DELIVRD&err=&to=%2B40700000003&extra=x+y");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().provider_message_id, "agg/88");
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().raw_status, "DELIVRD");
  EXPECT_TRUE(r->front().error_code.empty());
}

TEST(GenericReceiptMapping, NumbersAreTakenAsText) {
  Mapping m = AggregatorJson();
  m.statuses = {{"2", ReceiptStatus::delivered}, {"5", ReceiptStatus::undelivered}};
  auto r = ParseGenericReceiptBody(
      m, R"({"id":18446744073709551615,"status":2,"err":-17,"event_id":901})");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().provider_message_id, "18446744073709551615");
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().raw_status, "2");
  EXPECT_EQ(r->front().error_code, "-17");
  EXPECT_EQ(r->front().dedup_key, "901");

  r = ParseGenericReceiptBody(m, R"({"id":4912661846655238145,"status":"5"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().provider_message_id, "4912661846655238145");
  EXPECT_EQ(r->front().status, ReceiptStatus::undelivered);
}

TEST(GenericReceiptMapping, UnmappedStatusIsProgressWithItsWordKept) {
  const auto r = ParseGenericReceiptBody(AggregatorJson(), R"({"id":"agg-1","status":"ENROUTE"})");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::sent);
  EXPECT_EQ(r->front().raw_status, "ENROUTE");
  EXPECT_EQ(r->front().provider_message_id, "agg-1");
}

TEST(GenericReceiptMapping, StatusWordsMatchExactlyThenIgnoringCase) {
  auto r = ParseGenericReceiptBody(AggregatorJson(), R"({"id":"m","status":"Delivrd"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().raw_status, "Delivrd");

  // Two words differing only in case: each matches itself exactly, and a
  // third spelling takes the first in config order.
  Mapping m = AggregatorJson();
  m.statuses = {{"ok", ReceiptStatus::delivered}, {"OK", ReceiptStatus::read}};
  r = ParseGenericReceiptBody(m, R"({"id":"m","status":"OK"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front().status, ReceiptStatus::read);
  r = ParseGenericReceiptBody(m, R"({"id":"m","status":"ok"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  r = ParseGenericReceiptBody(m, R"({"id":"m","status":"Ok"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  // Case, not spelling: a near miss is unmapped.
  r = ParseGenericReceiptBody(m, R"({"id":"m","status":"okay"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->front().status, ReceiptStatus::sent);
}

TEST(GenericReceiptMapping, UnsubscribedAndComplainedAddSuppressions) {
  const auto r = ParseGenericReceiptBody(
      AggregatorJson(),
      R"([{"id":"m1","status":"STOP"},{"id":"m2","status":"SPAM"},{"id":"m3","status":"REJECTD"}])");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].status, ReceiptStatus::unsubscribed);
  EXPECT_EQ((*r)[0].suppress_reason, kSuppressUnsubscribed);
  EXPECT_EQ((*r)[1].status, ReceiptStatus::complained);
  EXPECT_EQ((*r)[1].suppress_reason, kSuppressSpamReport);
  EXPECT_TRUE((*r)[2].suppress_reason.empty());
}

TEST(GenericReceiptMapping, EventIdIsTheDedupKey) {
  auto r = ParseGenericReceiptBody(AggregatorJson(),
                                   R"({"id":"m","status":"DELIVRD","event_id":"dlr-5521"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().dedup_key, "dlr-5521");
  // Without an event_id pointer there is none, whatever the body holds.
  Mapping m = AggregatorJson();
  m.event_id.clear();
  r = ParseGenericReceiptBody(m, R"({"id":"m","status":"DELIVRD","event_id":"dlr-5521"})");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_TRUE(r->front().dedup_key.empty());
}

TEST(GenericReceiptMapping, MalformedBodiesAre400NamingWhatIsWrong) {
  struct Case {
    const char* body;
    const char* reason;
  };
  const Case cases[] = {
      {"", "not JSON"},
      {R"({"id":"m","status":)", "not JSON"},
      {"\"DELIVRD\"", "neither a JSON object nor an array"},
      {"17", "neither a JSON object nor an array"},
      {R"({"status":"DELIVRD"})", "/id is missing or empty"},
      {R"({"id":"","status":"DELIVRD"})", "/id is missing or empty"},
      {R"({"id":null,"status":"DELIVRD"})", "/id is missing or empty"},
      {R"({"id":"m"})", "/status is missing or empty"},
      {R"({"id":{"v":1},"status":"DELIVRD"})", "/id is neither a string nor a number"},
      {R"({"id":"m","status":true})", "/status is neither a string nor a number"},
      {R"({"id":"m","status":"DELIVRD","err":["x"]})", "/err is neither a string nor a number"},
      {R"([{"id":"a","status":"DELIVRD"},"b"])", "[1] is not a JSON object"},
      {R"([{"id":"a","status":"DELIVRD"},{"id":"b"}])", "[1]/status is missing or empty"},
  };
  for (const auto& c : cases) {
    const auto r = ParseGenericReceiptBody(AggregatorJson(), c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().http_status, 400) << c.body;
    EXPECT_NE(r.error().reason.find(c.reason), std::string::npos)
        << c.body << ": " << r.error().reason;
  }
  const Case form_cases[] = {
      {"msgid=m&stat=%ZZ", "not application/x-www-form-urlencoded"},
      {"stat=DELIVRD", "msgid is missing or empty"},
      {"msgid=m&stat=", "stat is missing or empty"},
      {R"({"msgid":"m","stat":"DELIVRD"})", "msgid is missing or empty"},
  };
  for (const auto& c : form_cases) {
    const auto r = ParseGenericReceiptBody(AggregatorForm(), c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().http_status, 400) << c.body;
    EXPECT_NE(r.error().reason.find(c.reason), std::string::npos)
        << c.body << ": " << r.error().reason;
  }
}

TEST(GenericReceipt, UnsignedOnlyWhenAllowed) {
  constexpr char kBody[] = R"({"id":"m","status":"DELIVRD"})";
  Mapping m = AggregatorJson();
  m.signature_header.clear();
  m.secret.clear();
  auto r = ParseGenericReceipt(m, kBody, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("no receipts.signature"), std::string::npos);

  m.allow_unsigned = true;
  r = ParseGenericReceipt(m, kBody, "");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  // Unsigned still means well-formed.
  r = ParseGenericReceipt(m, R"({"status":"DELIVRD"})", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
}

TEST(GenericReceipt, MissingHeaderOrSecretIs401) {
  constexpr char kBody[] = R"({"id":"m","status":"DELIVRD"})";
  auto r = ParseGenericReceipt(AggregatorJson(), kBody, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_EQ(r.error().reason, "missing X-Signature header");

  Mapping no_secret = AggregatorJson();
  no_secret.secret.clear();
  r = ParseGenericReceipt(no_secret, kBody, "00");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("receipts.signature.secret"), std::string::npos);
}

// Signatures made with Node's crypto (tests/node/receipt_sign.js).
class GenericReceiptSigned : public peers::NodeSignedTest {};

TEST_F(GenericReceiptSigned, AcceptsEveryAlgorithmAndEncoding) {
  // The shape bench/mock_provider posts: lower-case hex HMAC-SHA256.
  const std::string json =
      R"({"message_id":"gen-000042","status":"DELIVRD","event_id":"mock-ev-42"})";
  const std::string utf8 = R"({"id":"gen-7","status":"UNDELIV","err":"Ungültige Nummer ✗"})";
  const std::string form = "msgid=gen-9&stat=READ&err=";
  const auto signatures = peers::SignWithNode({
      peers::HmacJob("sha256", "hex", kSecret, json),
      peers::HmacJob("sha256", "hex", kSecret, utf8),
      peers::HmacJob("sha1", "base64", kSecret, form),
      peers::HmacJob("sha256", "base64", kSecret, json),
      peers::HmacJob("sha1", "hex", kSecret, json),
  });
  ASSERT_EQ(signatures.size(), 5u);

  Mapping mock = AggregatorJson();
  mock.message_id = "/message_id";
  auto r = ParseGenericReceipt(mock, json, signatures[0].at("signature"));
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().provider_message_id, "gen-000042");
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().dedup_key, "mock-ev-42");
  // Hex digits in upper case are the same signature.
  r = ParseGenericReceipt(mock, json, Upper(signatures[0].at("signature")));
  ASSERT_TRUE(r) << r.error().reason;

  r = ParseGenericReceipt(AggregatorJson(), utf8, signatures[1].at("signature"));
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().error_code, "Ungültige Nummer ✗");
  EXPECT_EQ(r->front().status, ReceiptStatus::undelivered);

  r = ParseGenericReceipt(AggregatorForm(), form, signatures[2].at("signature"));
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->front().provider_message_id, "gen-9");
  EXPECT_EQ(r->front().status, ReceiptStatus::read);

  Mapping b64 = mock;
  b64.encoding = Mapping::Encoding::base64;
  r = ParseGenericReceipt(b64, json, signatures[3].at("signature"));
  ASSERT_TRUE(r) << r.error().reason;

  Mapping sha1_hex = mock;
  sha1_hex.algorithm = Mapping::Algorithm::hmac_sha1;
  r = ParseGenericReceipt(sha1_hex, json, signatures[4].at("signature"));
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(signatures[4].at("signature").size(), 40u);
}

TEST_F(GenericReceiptSigned, RefusesATamperedBodyAnotherSecretOrAnotherScheme) {
  const std::string body = R"({"id":"gen-1","status":"UNDELIV"})";
  const auto signatures = peers::SignWithNode({
      peers::HmacJob("sha256", "hex", kSecret, body),
      peers::HmacJob("sha256", "hex", "another-secret", body),
      peers::HmacJob("sha256", "base64", kSecret, body),
      peers::HmacJob("sha1", "hex", kSecret, body),
  });
  ASSERT_EQ(signatures.size(), 4u);
  const std::string& good = signatures[0].at("signature");
  ASSERT_TRUE(ParseGenericReceipt(AggregatorJson(), body, good));

  std::string tampered = body;
  tampered.replace(tampered.find("UNDELIV"), 7, "DELIVRD");
  auto r = ParseGenericReceipt(AggregatorJson(), tampered, good);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("X-Signature does not match"), std::string::npos);

  r = ParseGenericReceipt(AggregatorJson(), body, signatures[1].at("signature"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);

  // The right key in another encoding or digest is no signature.
  r = ParseGenericReceipt(AggregatorJson(), body, signatures[2].at("signature"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  r = ParseGenericReceipt(AggregatorJson(), body, signatures[3].at("signature"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  r = ParseGenericReceipt(AggregatorJson(), body, good.substr(0, 32));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);

  // Base64 is compared exactly: the same bytes in another case are refused.
  Mapping b64 = AggregatorJson();
  b64.encoding = Mapping::Encoding::base64;
  const std::string& b64_sig = signatures[2].at("signature");
  ASSERT_TRUE(ParseGenericReceipt(b64, body, b64_sig));
  ASSERT_NE(Upper(b64_sig), b64_sig);
  r = ParseGenericReceipt(b64, body, Upper(b64_sig));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
}

TEST_F(GenericReceiptSigned, SignedButMalformedBodyIs400) {
  const std::string body = R"({"status":"DELIVRD","event_id":"e"})";
  const auto signatures = peers::SignWithNode({peers::HmacJob("sha256", "hex", kSecret, body)});
  ASSERT_EQ(signatures.size(), 1u);
  const auto r = ParseGenericReceipt(AggregatorJson(), body, signatures[0].at("signature"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().reason, "/id is missing or empty");
}

}  // namespace
}  // namespace omnigate::providers
