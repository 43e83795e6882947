#include "providers/webpush/webpush_crypto.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::providers::webpush {
namespace {

// RFC 8291 Appendix A, all values base64url.
constexpr char kRfcPlaintext[] = "When I grow up, I want to be a watermelon";
constexpr char kRfcAsPrivate[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr char kRfcAsPublic[] =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr char kRfcUaPublic[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kRfcUaPrivate[] = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr char kRfcSalt[] = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr char kRfcAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr char kRfcBody[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6"
    "TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_"
    "Qulcy4"
    "a-fN";

std::string Decode(std::string_view b64) {
  auto bytes = Base64UrlDecode(b64);
  EXPECT_TRUE(bytes.has_value()) << b64;
  return bytes.value_or("");
}

std::string RandomBytes(int n) {
  std::string out(static_cast<std::size_t>(n), '\0');
  EXPECT_EQ(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n), 1);
  return out;
}

// Runs tests/node/<script> with a JSON input file (or extra arguments) and
// returns its stdout; `exit_code` receives the status.
std::string RunNode(const std::string& script, const std::vector<std::string>& args,
                    int* exit_code) {
  std::vector<std::string> argv = {"node",
                                   std::string(OMNIGATE_SOURCE_DIR) + "/tests/node/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  *exit_code = testing::RunCommand(argv, &out, 30'000);
  return out;
}

std::string RunNodeWithInput(const std::string& script, const std::string& json, int* exit_code) {
  testing::TempDir dir;
  const std::string path = dir.File("input.json");
  std::ofstream(path) << json;
  return RunNode(script, {path}, exit_code);
}

// The value of a string member of a flat JSON object (no escapes expected).
std::string JsonStringField(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const auto start = json.find(key);
  if (start == std::string::npos) return {};
  const auto begin = start + key.size();
  return json.substr(begin, json.find('"', begin) - begin);
}

std::string DecryptWithHttpEce(const std::string& body, const std::string& ua_private_b64,
                               const std::string& ua_public_b64, const std::string& auth_b64,
                               int* exit_code) {
  const std::string json = "{\"body_b64url\":\"" + Base64UrlEncode(body) + "\",\"ua_private\":\"" +
                           ua_private_b64 + "\",\"ua_public\":\"" + ua_public_b64 +
                           "\",\"auth\":\"" + auth_b64 + "\"}";
  return RunNodeWithInput("webpush_decrypt.js", json, exit_code);
}

std::string VerifyJwtWithNode(const std::string& jwt, const std::string& public_b64,
                              int* exit_code) {
  return RunNodeWithInput("vapid_verify.js",
                          "{\"jwt\":\"" + jwt + "\",\"public_key\":\"" + public_b64 + "\"}",
                          exit_code);
}

TEST(WebPushBase64Url, RoundTripsAllLengths) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
    bytes += static_cast<char>(i * 37 + 250);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(Base64UrlEncode("ab"), "YWI");
}

TEST(WebPushBase64Url, AcceptsPaddingAndRejectsForeignCharacters) {
  EXPECT_EQ(Base64UrlDecode("YWI"), "ab");
  EXPECT_EQ(Base64UrlDecode("YWI="), "ab");
  EXPECT_EQ(Base64UrlDecode("YQ=="), "a");
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_FALSE(Base64UrlDecode("YQ=").has_value());    // padding to a wrong length
  EXPECT_FALSE(Base64UrlDecode("Y=Q=").has_value());   // padding in the middle
  EXPECT_FALSE(Base64UrlDecode("YWJjZ").has_value());  // one dangling character
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());    // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("YW I").has_value());
}

TEST(WebPushCrypto, ReproducesRfc8291AppendixA) {
  const EncryptParams fixed{.as_private_raw = Decode(kRfcAsPrivate), .salt = Decode(kRfcSalt)};
  auto body = Encrypt(kRfcPlaintext, Decode(kRfcUaPublic), Decode(kRfcAuth), &fixed);
  ASSERT_TRUE(body.has_value()) << body.error();
  EXPECT_EQ(Base64UrlEncode(*body), kRfcBody);
  EXPECT_EQ(body->substr(21, 65), Decode(kRfcAsPublic));
}

TEST(WebPushCrypto, Rfc8291ExampleDecryptsWithHttpEce) {
  // Guards the vector and the decrypt script against each other.
  int code = 0;
  const std::string out =
      DecryptWithHttpEce(Decode(kRfcBody), kRfcUaPrivate, kRfcUaPublic, kRfcAuth, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, kRfcPlaintext);
}

TEST(WebPushCrypto, FreshMessageDecryptsWithHttpEce) {
  // The subscriber's side, as a browser creates it.
  const VapidKey ua = VapidKey::Generate();
  const std::string auth = RandomBytes(16);
  const std::string payload =
      R"({"title":"Grüße","body":"Ünïcödé ✓ — 日本語 🍉","url":"https://example.com/?a=1&b=2"})";

  auto body = Encrypt(payload, Decode(ua.PublicKeyBase64Url()), auth);
  ASSERT_TRUE(body.has_value()) << body.error();
  ASSERT_EQ(body->size(), 86 + payload.size() + 1 + 16);
  EXPECT_EQ(body->substr(16, 5), std::string("\x00\x00\x10\x00\x41", 5));

  int code = 0;
  const std::string out = DecryptWithHttpEce(*body, ua.PrivateKeyBase64Url(),
                                             ua.PublicKeyBase64Url(), Base64UrlEncode(auth), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, payload);

  // The decrypting side really checks: another auth secret fails the tag.
  const std::string wrong =
      DecryptWithHttpEce(*body, ua.PrivateKeyBase64Url(), ua.PublicKeyBase64Url(),
                         Base64UrlEncode(RandomBytes(16)), &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(wrong.rfind("error: ", 0), 0u) << wrong;

  // A second message uses a new ephemeral key and salt.
  auto again = Encrypt(payload, Decode(ua.PublicKeyBase64Url()), auth);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again->substr(0, 16), body->substr(0, 16));
  EXPECT_NE(again->substr(21, 65), body->substr(21, 65));
}

TEST(WebPushCrypto, LargestPayloadDecryptsWithHttpEce) {
  const VapidKey ua = VapidKey::Generate();
  const std::string auth = RandomBytes(16);
  const std::string payload(kMaxPlaintextBytes, 'x');
  auto body = Encrypt(payload, Decode(ua.PublicKeyBase64Url()), auth);
  ASSERT_TRUE(body.has_value()) << body.error();
  EXPECT_EQ(body->size(), 4096u);
  int code = 0;
  const std::string out = DecryptWithHttpEce(*body, ua.PrivateKeyBase64Url(),
                                             ua.PublicKeyBase64Url(), Base64UrlEncode(auth), &code);
  EXPECT_EQ(code, 0) << out.substr(0, 200);
  EXPECT_EQ(out, payload);
}

TEST(WebPushCrypto, EnforcesPayloadLimit) {
  const std::string ua_public = Decode(kRfcUaPublic);
  const std::string auth = Decode(kRfcAuth);
  EXPECT_EQ(kMaxPlaintextBytes, 3993u);
  EXPECT_TRUE(Encrypt(std::string(3993, 'a'), ua_public, auth).has_value());
  auto too_large = Encrypt(std::string(3994, 'a'), ua_public, auth);
  ASSERT_FALSE(too_large.has_value());
  EXPECT_EQ(too_large.error(), "web push payload too large: 3994 bytes, the limit is 3993");
}

TEST(WebPushCrypto, RejectsBadSubscriptionKeys) {
  const std::string ua_public = Decode(kRfcUaPublic);
  const std::string auth = Decode(kRfcAuth);

  auto short_key = Encrypt("hi", ua_public.substr(0, 64), auth);
  ASSERT_FALSE(short_key.has_value());
  EXPECT_EQ(short_key.error(),
            "ua public key must be a 65-byte uncompressed P-256 point, got 64 bytes");

  std::string compressed = ua_public;
  compressed[0] = '\x02';
  auto not_uncompressed = Encrypt("hi", compressed, auth);
  ASSERT_FALSE(not_uncompressed.has_value());
  EXPECT_EQ(not_uncompressed.error(),
            "ua public key must be a 65-byte uncompressed P-256 point, got 65 bytes");

  std::string off_curve = ua_public;
  off_curve[64] = static_cast<char>(off_curve[64] ^ 1);
  auto not_on_curve = Encrypt("hi", off_curve, auth);
  ASSERT_FALSE(not_on_curve.has_value());
  EXPECT_EQ(not_on_curve.error(), "ua public key is not a point on P-256");

  auto short_auth = Encrypt("hi", ua_public, auth.substr(0, 15));
  ASSERT_FALSE(short_auth.has_value());
  EXPECT_EQ(short_auth.error(), "auth secret must be 16 bytes, got 15");
}

TEST(WebPushVapid, SignedJwtVerifiesWithNodeCrypto) {
  const VapidKey key = VapidKey::Generate();
  const std::string jwt =
      key.SignJwt("https://fcm.googleapis.com", "mailto:ops@example.com", 1'900'000'000);

  const auto first_dot = jwt.find('.');
  const auto second_dot = jwt.find('.', first_dot + 1);
  ASSERT_NE(second_dot, std::string::npos);
  EXPECT_EQ(Decode(jwt.substr(0, first_dot)), R"({"typ":"JWT","alg":"ES256"})");
  EXPECT_EQ(
      Decode(jwt.substr(first_dot + 1, second_dot - first_dot - 1)),
      R"({"aud":"https://fcm.googleapis.com","exp":1900000000,"sub":"mailto:ops@example.com"})");
  EXPECT_EQ(Decode(jwt.substr(second_dot + 1)).size(), 64u);

  int code = 0;
  EXPECT_EQ(VerifyJwtWithNode(jwt, key.PublicKeyBase64Url(), &code), "ok");
  EXPECT_EQ(code, 0);

  // Same signature over different claims.
  const std::string other =
      key.SignJwt("https://fcm.googleapis.com", "mailto:ops@example.com", 1'900'000'001);
  const std::string tampered = other.substr(0, other.rfind('.')) + jwt.substr(jwt.rfind('.'));
  EXPECT_EQ(VerifyJwtWithNode(tampered, key.PublicKeyBase64Url(), &code), "bad signature");
  EXPECT_EQ(code, 1);

  // Right JWT, someone else's key.
  EXPECT_EQ(VerifyJwtWithNode(jwt, VapidKey::Generate().PublicKeyBase64Url(), &code),
            "bad signature");
  EXPECT_EQ(code, 1);
}

TEST(WebPushVapid, EscapesClaimStrings) {
  const VapidKey key = VapidKey::Generate();
  const std::string jwt = key.SignJwt("https://a.example", "mailto:\"x\"\\\n@example.com", 5);
  const auto first_dot = jwt.find('.');
  const auto second_dot = jwt.find('.', first_dot + 1);
  EXPECT_EQ(Decode(jwt.substr(first_dot + 1, second_dot - first_dot - 1)),
            R"({"aud":"https://a.example","exp":5,"sub":"mailto:\"x\"\\\n@example.com"})");
  int code = 0;
  EXPECT_EQ(VerifyJwtWithNode(jwt, key.PublicKeyBase64Url(), &code), "ok");
}

TEST(WebPushVapid, LoadsWebPushLibraryKeys) {
  int code = 0;
  const std::string keys = RunNode("vapid_verify.js", {"--generate-keys"}, &code);
  ASSERT_EQ(code, 0) << keys;
  const std::string private_b64 = JsonStringField(keys, "privateKey");
  const std::string public_b64 = JsonStringField(keys, "publicKey");
  ASSERT_FALSE(private_b64.empty()) << keys;

  auto key = VapidKey::FromPrivateBase64Url(private_b64);
  ASSERT_TRUE(key.has_value()) << key.error();
  EXPECT_EQ(key->PublicKeyBase64Url(), public_b64);
  EXPECT_EQ(key->PrivateKeyBase64Url(), private_b64);
  // Verified against the public key as web-push reported it.
  EXPECT_EQ(VerifyJwtWithNode(key->SignJwt("https://updates.push.services.mozilla.com",
                                           "https://example.com/contact", 1'800'000'000),
                              public_b64, &code),
            "ok");
}

TEST(WebPushVapid, DerivesKnownPublicKey) {
  auto key = VapidKey::FromPrivateBase64Url(kRfcAsPrivate);
  ASSERT_TRUE(key.has_value()) << key.error();
  EXPECT_EQ(key->PublicKeyBase64Url(), kRfcAsPublic);
  // Padded input is accepted too.
  EXPECT_TRUE(VapidKey::FromPrivateBase64Url(std::string(kRfcAsPrivate) + "=").has_value());
}

TEST(WebPushVapid, RejectsBadPrivateKeys) {
  auto bad_chars = VapidKey::FromPrivateBase64Url("yfWPiYE+n46HLnH0KqZOF1fJJU3MYrct3AELtAQ/oRw");
  ASSERT_FALSE(bad_chars.has_value());
  EXPECT_EQ(bad_chars.error(), "VAPID private key is not valid base64url");

  auto short_key = VapidKey::FromPrivateBase64Url(Base64UrlEncode(std::string(31, '\x01')));
  ASSERT_FALSE(short_key.has_value());
  EXPECT_EQ(short_key.error(), "VAPID private key must be 32 bytes, got 31");

  auto zero = VapidKey::FromPrivateBase64Url(Base64UrlEncode(std::string(32, '\0')));
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error(), "VAPID private key is not a valid P-256 private scalar");

  auto too_big = VapidKey::FromPrivateBase64Url(Base64UrlEncode(std::string(32, '\xff')));
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error(), "VAPID private key is not a valid P-256 private scalar");
}

TEST(WebPushVapid, AuthorizationHeaderAndCopies) {
  auto key = VapidKey::FromPrivateBase64Url(kRfcAsPrivate);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->AuthorizationHeader("a.b.c"), std::string("vapid t=a.b.c, k=") + kRfcAsPublic);

  VapidKey copy = *key;
  VapidKey assigned = VapidKey::Generate();
  assigned = copy;
  const VapidKey moved = std::move(copy);
  EXPECT_EQ(moved.PrivateKeyBase64Url(), kRfcAsPrivate);
  EXPECT_EQ(assigned.PublicKeyBase64Url(), kRfcAsPublic);

  // Const use from several threads at once; every signature must verify.
  std::vector<std::string> jwts(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < jwts.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 50; ++n) jwts[i] = assigned.SignJwt("https://x.example", "mailto:a@b", n);
    });
  }
  for (auto& t : threads) t.join();
  int code = 0;
  for (const auto& jwt : jwts) EXPECT_EQ(VerifyJwtWithNode(jwt, kRfcAsPublic, &code), "ok");
}

TEST(WebPushVapid, AudienceIsEndpointOrigin) {
  EXPECT_EQ(AudienceOf("https://fcm.googleapis.com/fcm/send/abc"), "https://fcm.googleapis.com");
  EXPECT_EQ(AudienceOf("https://push.example.com:8443/wpush/v2/x?y=1"),
            "https://push.example.com:8443");
  EXPECT_EQ(AudienceOf("http://127.0.0.1:18080"), "http://127.0.0.1:18080");
  EXPECT_EQ(AudienceOf("HTTPS://Updates.Push.Services.Mozilla.com:443/wpush/v2/a"),
            "https://updates.push.services.mozilla.com");
  EXPECT_EQ(AudienceOf("https://user:pw@push.example.com/x"), "https://push.example.com");
  EXPECT_EQ(AudienceOf("http://[::1]:9000/push"), "http://[::1]:9000");
  EXPECT_EQ(AudienceOf("fcm.googleapis.com/fcm/send/abc"), "");
  EXPECT_EQ(AudienceOf("https:///path"), "");
}

}  // namespace
}  // namespace omnigate::providers::webpush
