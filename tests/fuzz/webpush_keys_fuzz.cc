// Fuzzes the import of web push subscription keys and the RFC 8291
// encryption (providers/webpush/webpush_crypto.h): the p256dh and auth values
// come from requests, i.e. from outside. Input (FuzzedDataProvider):
// p256dh and auth as base64url text, then the application server's 32-byte
// scalar and the 16-byte salt (fixed, so that a finding reproduces), then the
// plaintext.
//
// Encrypt must accept exactly the keys that are usable: a 65-byte
// uncompressed point that OpenSSL's EC_POINT code (a separate path from the
// EVP import Encrypt uses) finds on P-256, a 16-byte secret, a valid scalar,
// a payload within the limit. Accepting a point off the curve would open the
// invalid-curve attack on the ephemeral key.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "providers/webpush/webpush_crypto.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace webpush = omnigate::providers::webpush;

const unsigned char* Bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

const EC_GROUP* P256() {
  static EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return group;
}

bool OnCurveUncompressed(const std::string& point) {
  if (point.size() != 65 || point[0] != '\x04') return false;
  EC_POINT* p = EC_POINT_new(P256());
  const bool ok = p != nullptr &&
                  EC_POINT_oct2point(P256(), p, Bytes(point), point.size(), nullptr) == 1 &&
                  EC_POINT_is_on_curve(P256(), p, nullptr) == 1 &&
                  EC_POINT_is_at_infinity(P256(), p) == 0;
  EC_POINT_free(p);
  ERR_clear_error();
  return ok;
}

bool ValidScalar(const std::string& scalar) {
  BIGNUM* d = BN_bin2bn(Bytes(scalar), static_cast<int>(scalar.size()), nullptr);
  const bool ok = d != nullptr && !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(P256())) < 0;
  BN_free(d);
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string p256dh_text = in.ConsumeRandomLengthString(120);
  const std::string auth_text = in.ConsumeRandomLengthString(40);
  webpush::EncryptParams fixed;
  fixed.as_private_raw = in.ConsumeBytesAsString(32);
  fixed.salt = in.ConsumeBytesAsString(16);
  const std::string plaintext = in.ConsumeRemainingBytesAsString();

  const auto p256dh = webpush::Base64UrlDecode(p256dh_text);
  const auto auth = webpush::Base64UrlDecode(auth_text);
  for (const auto* decoded : {&p256dh, &auth}) {
    if (*decoded) FUZZ_CHECK(webpush::Base64UrlDecode(webpush::Base64UrlEncode(**decoded)) == *decoded);
  }
  if (!p256dh || !auth) return 0;

  const auto body = webpush::Encrypt(plaintext, *p256dh, *auth, &fixed);
  const bool usable = plaintext.size() <= webpush::kMaxPlaintextBytes &&
                      OnCurveUncompressed(*p256dh) && auth->size() == 16 &&
                      fixed.salt.size() == 16 && fixed.as_private_raw.size() == 32 &&
                      ValidScalar(fixed.as_private_raw);
  FUZZ_CHECK(body.has_value() == usable);
  if (!body) {
    FUZZ_CHECK(!body.error().empty());
    return 0;
  }
  // salt(16) || rs(4) = 4096 || idlen(1) = 65 || as_public(65) || ciphertext || tag(16)
  FUZZ_CHECK(body->size() == 86 + plaintext.size() + 1 + 16);
  FUZZ_CHECK(body->compare(0, 16, fixed.salt) == 0);
  FUZZ_CHECK(body->compare(16, 5, std::string("\x00\x00\x10\x00\x41", 5)) == 0);
  FUZZ_CHECK(OnCurveUncompressed(body->substr(21, 65)));
  // Fixed inputs, fixed output: nothing else (no hidden randomness) goes in.
  const auto again = webpush::Encrypt(plaintext, *p256dh, *auth, &fixed);
  FUZZ_CHECK(again && *again == *body);
  return 0;
}
