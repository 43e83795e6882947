#include "providers/sendgrid/sendgrid_receipt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <string>

#include "common/text.h"
#include "tests/providers/receipt_signer.h"

namespace omnigate::providers {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point At(std::int64_t unix_seconds) {
  return system_clock::time_point(seconds(unix_seconds));
}

// The example of SendGrid's own verifier (@sendgrid/eventwebhook's test
// suite): a real key, the signature SendGrid made, and the exact body bytes,
// trailing CRLF included.
constexpr char kDocKey[] =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
constexpr char kDocSignature[] =
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+"
    "luQAbPIqHh89M15TluLtEZtM=";
constexpr char kDocTimestamp[] = "1600112502";
constexpr char kDocBody[] =
    "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\","
    "\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":"
    "\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":"
    "\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
constexpr std::int64_t kDocTime = 1600112502;

SendGridWebhookVerifier DocVerifier() {
  auto v = SendGridWebhookVerifier::FromPublicKey(kDocKey);
  EXPECT_TRUE(v) << v.error();
  return std::move(v).value();
}

// A public key of another kind, base64 SPKI DER, made with OpenSSL.
std::string OtherKeyBase64(bool rsa) {
  EVP_PKEY* key = rsa ? EVP_RSA_gen(1024) : EVP_EC_gen("P-384");
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  std::string out;
  if (length > 0) AppendBase64({reinterpret_cast<const char*>(der), std::size_t(length)}, out);
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  return out;
}

TEST(SendGridVerifier, VerifiesSendGridsDocumentedExample) {
  const auto verifier = DocVerifier();
  const auto r =
      ParseSendGridEventWebhook(verifier, kDocBody, kDocSignature, kDocTimestamp, At(kDocTime + 3));
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  const Receipt& receipt = r->front();
  EXPECT_EQ(receipt.status, ReceiptStatus::failed);
  EXPECT_EQ(receipt.raw_status, "dropped");
  EXPECT_EQ(receipt.provider_message_id, "LRzXl_NHStOGhQ4kofSm_A");
  EXPECT_EQ(receipt.dedup_key, "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA");
  EXPECT_EQ(receipt.timestamp_ms, 1600112492000);
  EXPECT_EQ(receipt.error_code, "Bounced Address");
  EXPECT_EQ(receipt.address, "hello@world.com");
  EXPECT_TRUE(receipt.request_id.empty());
  EXPECT_TRUE(receipt.suppress_reason.empty());
}

TEST(SendGridVerifier, RefusesTheExampleTamperedWith) {
  const auto verifier = DocVerifier();
  std::string body = kDocBody;
  body.replace(body.find("dropped"), 7, "delived");
  auto r = verifier.Verify(body, kDocSignature, kDocTimestamp, At(kDocTime));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("does not verify"), std::string::npos) << r.error().reason;
  // The trailing CRLF is signed too.
  body = kDocBody;
  body.resize(body.size() - 2);
  EXPECT_FALSE(verifier.Verify(body, kDocSignature, kDocTimestamp, At(kDocTime)));
  // So is the timestamp header.
  EXPECT_FALSE(verifier.Verify(kDocBody, kDocSignature, "1600112503", At(kDocTime)));
}

TEST(SendGridVerifier, ReplayWindowHoldsBothWays) {
  const auto verifier = DocVerifier();
  EXPECT_TRUE(verifier.Verify(kDocBody, kDocSignature, kDocTimestamp, At(kDocTime + 300)));
  EXPECT_TRUE(verifier.Verify(kDocBody, kDocSignature, kDocTimestamp, At(kDocTime - 300)));
  for (const std::int64_t now : {kDocTime + 301, kDocTime - 301, kDocTime + 86400}) {
    const auto r = verifier.Verify(kDocBody, kDocSignature, kDocTimestamp, At(now));
    ASSERT_FALSE(r) << now;
    EXPECT_EQ(r.error().http_status, 401);
    EXPECT_NE(r.error().reason.find("replay window"), std::string::npos) << r.error().reason;
  }
  EXPECT_TRUE(verifier.Verify(kDocBody, kDocSignature, kDocTimestamp, At(kDocTime + 3600),
                              std::chrono::hours(2)));
}

TEST(SendGridVerifier, MissingOrMalformedHeadersAre401) {
  const auto verifier = DocVerifier();
  struct Case {
    const char* signature;
    const char* timestamp;
    const char* reason;
  };
  const Case cases[] = {
      {"", kDocTimestamp, "missing X-Twilio-Email-Event-Webhook-Signature"},
      {kDocSignature, "", "missing X-Twilio-Email-Event-Webhook-Timestamp"},
      {kDocSignature, "1600112502.0", "not unix seconds"},
      {kDocSignature, "-1600112502", "not unix seconds"},
      {"MEUCIGHQ!!", kDocTimestamp, "not base64"},
      {"AAAA", kDocTimestamp, "does not verify"},  // base64, but no DER signature
  };
  for (const auto& c : cases) {
    const auto r = verifier.Verify(kDocBody, c.signature, c.timestamp, At(kDocTime));
    ASSERT_FALSE(r) << c.reason;
    EXPECT_EQ(r.error().http_status, 401);
    EXPECT_NE(r.error().reason.find(c.reason), std::string::npos) << r.error().reason;
  }
}

TEST(SendGridVerifier, KeyIsCheckedWhenLoaded) {
  EXPECT_TRUE(SendGridWebhookVerifier::FromPublicKey(kDocKey));
  // The same key as a PEM block, as `openssl ec -pubout` prints it.
  const std::string key = kDocKey;
  const std::string pem = "-----BEGIN PUBLIC KEY-----\n" + key.substr(0, 64) + "\n" +
                          key.substr(64) + "\n-----END PUBLIC KEY-----\n";
  EXPECT_TRUE(SendGridWebhookVerifier::FromPublicKey(pem));

  struct Case {
    std::string key;
    const char* reason;
  };
  const Case cases[] = {
      {"", "empty"},
      {"not base64 at all!", "not base64"},
      {"c2VuZGdyaWQ=", "not a DER SubjectPublicKeyInfo"},
      {key.substr(0, key.size() - 8), "not"},  // cut short: either check may catch it
      {OtherKeyBase64(false), "not an ECDSA P-256 key"},
      {OtherKeyBase64(true), "not an ECDSA P-256 key"},
  };
  for (const auto& c : cases) {
    const auto v = SendGridWebhookVerifier::FromPublicKey(c.key);
    ASSERT_FALSE(v) << c.key;
    EXPECT_NE(v.error().find(c.reason), std::string::npos) << v.error();
    EXPECT_NE(v.error().find("webhook_public_key"), std::string::npos) << v.error();
  }
}

TEST(SendGridEvents, MapsEveryEventType) {
  const char* body = R"([
    {"email":"ana@example.com","timestamp":1763805600,"event":"processed","sg_event_id":"e1",
     "sg_message_id":"Xm1d.filterdrecv-1","omnigate_id":"order-7781","category":["omnigate"]},
    {"email":"ana@example.com","timestamp":1763805601,"event":"deferred","sg_event_id":"e2",
     "sg_message_id":"Xm1d.filterdrecv-1","omnigate_id":"order-7781","response":"400 try again later","attempt":"5"},
    {"email":"ana@example.com","timestamp":1763805602,"event":"delivered","sg_event_id":"e3",
     "sg_message_id":"Xm1d.filterdrecv-1","omnigate_id":"order-7781","response":"250 OK"},
    {"email":"ana@example.com","timestamp":1763805603,"event":"bounce","type":"bounce","sg_event_id":"e4",
     "sg_message_id":"Xm1d.filterdrecv-1","omnigate_id":"order-7781","status":"5.1.1","reason":"550 5.1.1 no such user"},
    {"email":"ana@example.com","timestamp":1763805604,"event":"bounce","type":"blocked","sg_event_id":"e5",
     "sg_message_id":"Xm1d.filterdrecv-1","omnigate_id":"order-7781","status":"5.7.1","reason":"550 5.7.1 spam"},
    {"email":"ana@example.com","timestamp":1763805605,"event":"blocked","sg_event_id":"e6",
     "sg_message_id":"Xm1d.filterdrecv-1","reason":"554 blocked"},
    {"email":"ana@example.com","timestamp":1763805606,"event":"dropped","sg_event_id":"e7",
     "sg_message_id":"Xm1d.filterdrecv-1","reason":"Unsubscribed Address"},
    {"email":"ana@example.com","timestamp":1763805607,"event":"open","sg_event_id":"e8",
     "sg_message_id":"Xm1d.filterdrecv-1","useragent":"Mozilla/5.0"},
    {"email":"ana@example.com","timestamp":1763805608,"event":"click","sg_event_id":"e9",
     "sg_message_id":"Xm1d.filterdrecv-1","url":"https://shop.example/o/7781"},
    {"email":"ana@example.com","timestamp":1763805609,"event":"spamreport","sg_event_id":"e10",
     "sg_message_id":"Xm1d.filterdrecv-1"},
    {"email":"ana@example.com","timestamp":1763805610,"event":"unsubscribe","sg_event_id":"e11",
     "sg_message_id":"Xm1d.filterdrecv-1"},
    {"email":"ana@example.com","timestamp":1763805611,"event":"group_unsubscribe","asm_group_id":7,
     "sg_event_id":"e12","sg_message_id":"Xm1d.filterdrecv-1"},
    {"email":"ana@example.com","timestamp":1763805612,"event":"group_resubscribe","sg_event_id":"e13"},
    {"email":"ana@example.com","timestamp":1763805613,"event":"some_future_event","sg_event_id":"e14"}
  ])";
  struct Expected {
    const char* raw;
    ReceiptStatus status;
    const char* suppress;
    const char* error_code;
  };
  const Expected expected[] = {
      {"processed", ReceiptStatus::sent, "", ""},
      {"deferred", ReceiptStatus::sent, "", "400 try again later"},
      {"delivered", ReceiptStatus::delivered, "", ""},
      {"bounce", ReceiptStatus::undelivered, "hard_bounce", "5.1.1"},
      {"bounce", ReceiptStatus::undelivered, "", "5.7.1"},
      {"blocked", ReceiptStatus::undelivered, "", "554 blocked"},
      {"dropped", ReceiptStatus::failed, "", "Unsubscribed Address"},
      {"open", ReceiptStatus::opened, "", ""},
      {"click", ReceiptStatus::clicked, "", ""},
      {"spamreport", ReceiptStatus::complained, "spam_report", ""},
      {"unsubscribe", ReceiptStatus::unsubscribed, "unsubscribed", ""},
      {"group_unsubscribe", ReceiptStatus::unsubscribed, "unsubscribed", ""},
  };
  const auto r = ParseSendGridEvents(body);
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), std::size(expected));
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    const Receipt& got = (*r)[i];
    EXPECT_EQ(got.raw_status, expected[i].raw) << i;
    EXPECT_EQ(got.status, expected[i].status) << i;
    EXPECT_EQ(got.suppress_reason, expected[i].suppress) << i;
    EXPECT_EQ(got.error_code, expected[i].error_code) << i;
    EXPECT_EQ(got.provider_message_id, "Xm1d") << i;
    EXPECT_EQ(got.dedup_key, "e" + std::to_string(i + 1));
    EXPECT_EQ(got.timestamp_ms, (1763805600 + std::int64_t(i)) * 1000);
    EXPECT_EQ(got.address, "ana@example.com");
    EXPECT_EQ(got.request_id, i < 5 ? "order-7781" : "") << i;
  }
}

TEST(SendGridEvents, EmptyBatchAndMissingOptionalFields) {
  auto r = ParseSendGridEvents("[]");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  r = ParseSendGridEvents(R"([{"event":"delivered","timestamp":"yesterday","omnigate_id":7}])");
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_TRUE(r->front().provider_message_id.empty());
  EXPECT_TRUE(r->front().request_id.empty());
  EXPECT_TRUE(r->front().dedup_key.empty());
  EXPECT_EQ(r->front().timestamp_ms, 0);
}

TEST(SendGridEvents, MalformedBodiesAre400NamingWhatIsWrong) {
  struct Case {
    const char* body;
    const char* reason;
  };
  const Case cases[] = {
      {"", "not JSON"},
      {"[{\"event\":", "not JSON"},
      {R"({"event":"delivered"})", "not a JSON array"},
      {R"([{"event":"delivered"},"delivered"])", "event [1] is not an object"},
      {R"([{"sg_event_id":"e1"}])", "event [0] has no \"event\" string"},
      {R"([{"event":5}])", "event [0] has no \"event\" string"},
  };
  for (const auto& c : cases) {
    const auto r = ParseSendGridEvents(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().reason.find(c.reason), std::string::npos) << r.error().reason;
  }
}

// Keys and signatures made with Node's crypto, each also checked by
// SendGrid's own verifier (@sendgrid/eventwebhook).
class SendGridReceiptSigned : public peers::NodeSignedTest {};

constexpr char kBatch[] =
    "[{\"email\":\"ana@example.com\",\"timestamp\":1763805600,\"event\":\"delivered\","
    "\"sg_event_id\":\"ZGVsaXZlcmVk\",\"sg_message_id\":\"14c5d75ce93dfd64b469aa.filterdrecv-7\","
    "\"omnigate_id\":\"order-7781-shipped\",\"note\":\"Gr\xc3\xbc\xc3\x9f"
    "e \xe2\x9c\x93\"}]\r\n";

TEST_F(SendGridReceiptSigned, AcceptsABatchSignedWithNodeCrypto) {
  const auto signed_batch = peers::SignWithNode({peers::SendGridJob("1763805605", kBatch)});
  ASSERT_EQ(signed_batch.size(), 1u);
  EXPECT_EQ(signed_batch[0].at("eventwebhook_valid"), "true");
  const auto verifier = SendGridWebhookVerifier::FromPublicKey(signed_batch[0].at("public_key"));
  ASSERT_TRUE(verifier) << verifier.error();
  const auto r = ParseSendGridEventWebhook(*verifier, kBatch, signed_batch[0].at("signature"),
                                           "1763805605", At(1763805610));
  ASSERT_TRUE(r) << r.error().reason;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().status, ReceiptStatus::delivered);
  EXPECT_EQ(r->front().request_id, "order-7781-shipped");
  EXPECT_EQ(r->front().provider_message_id, "14c5d75ce93dfd64b469aa");
  EXPECT_EQ(r->front().dedup_key, "ZGVsaXZlcmVk");
}

TEST_F(SendGridReceiptSigned, RefusesAnotherKeyATamperedBodyAndAStaleTimestamp) {
  // Two key pairs; the second signs with the first's private key reused.
  const auto first = peers::SignWithNode({peers::SendGridJob("1763805605", kBatch)});
  ASSERT_EQ(first.size(), 1u);
  const auto second =
      peers::SignWithNode({peers::SendGridJob("1763805605", kBatch),
                           peers::SendGridJob("1763805000", kBatch, first[0].at("private_key"))});
  ASSERT_EQ(second.size(), 2u);
  const auto ours = SendGridWebhookVerifier::FromPublicKey(first[0].at("public_key"));
  ASSERT_TRUE(ours) << ours.error();

  // Signed by another account's key.
  auto r = ParseSendGridEventWebhook(*ours, kBatch, second[0].at("signature"), "1763805605",
                                     At(1763805610));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("does not verify"), std::string::npos);

  // Tampered body: delivered → bounce.
  std::string tampered = kBatch;
  tampered.replace(tampered.find("delivered"), 9, "bounce");
  r = ParseSendGridEventWebhook(*ours, tampered, first[0].at("signature"), "1763805605",
                                At(1763805610));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);

  // Correctly signed by our key, but 10 minutes old.
  EXPECT_EQ(second[1].at("eventwebhook_valid"), "true");
  r = ParseSendGridEventWebhook(*ours, kBatch, second[1].at("signature"), "1763805000",
                                At(1763805610));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_NE(r.error().reason.find("replay window"), std::string::npos) << r.error().reason;
  // The same request inside a wider window verifies: the signature was good.
  EXPECT_TRUE(ParseSendGridEventWebhook(*ours, kBatch, second[1].at("signature"), "1763805000",
                                        At(1763805610), std::chrono::minutes(15)));

  // Missing headers.
  r = ParseSendGridEventWebhook(*ours, kBatch, "", "1763805605", At(1763805610));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
  r = ParseSendGridEventWebhook(*ours, kBatch, first[0].at("signature"), "", At(1763805610));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 401);
}

TEST_F(SendGridReceiptSigned, SignedButMalformedBodyIs400) {
  const std::string body = R"({"event":"delivered"})";
  const auto signed_body = peers::SignWithNode({peers::SendGridJob("1763805605", body)});
  ASSERT_EQ(signed_body.size(), 1u);
  const auto verifier = SendGridWebhookVerifier::FromPublicKey(signed_body[0].at("public_key"));
  ASSERT_TRUE(verifier);
  const auto r = ParseSendGridEventWebhook(*verifier, body, signed_body[0].at("signature"),
                                           "1763805605", At(1763805605));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().reason.find("not a JSON array"), std::string::npos);
}

}  // namespace
}  // namespace omnigate::providers
