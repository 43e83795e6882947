#include "providers/webpush/webpush_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>
#include <initializer_list>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/text.h"

namespace omnigate::providers::webpush {
namespace {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FreeWith<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, FreeWith<EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, FreeWith<EVP_CIPHER_CTX_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, FreeWith<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, FreeWith<EVP_KDF_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, FreeWith<BN_clear_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, FreeWith<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, FreeWith<EC_POINT_clear_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, FreeWith<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, FreeWith<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, FreeWith<ECDSA_SIG_free>>;

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kAuthBytes = 16;
constexpr std::size_t kPointBytes = 65;
constexpr std::size_t kScalarBytes = 32;
constexpr int kScalarWidth = 32;  // kScalarBytes for OpenSSL's int lengths
constexpr std::size_t kTagBytes = 16;
constexpr std::uint32_t kRecordSize = 4096;
constexpr std::size_t kHeaderBytes = kSaltBytes + 4 + 1 + kPointBytes;
constexpr char kCurveName[] = "prime256v1";

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
// OSSL_PARAM carries non-const pointers even for inputs that are only read.
void* Input(std::string_view s) { return const_cast<char*>(s.data()); }

// Describes the failed step with OpenSSL's last error, and empties this
// thread's error queue so the failure does not leak into unrelated TLS code.
std::string OpenSslError(std::string_view step) {
  std::string message = "openssl: " + std::string(step) + " failed";
  if (const unsigned long code = ERR_peek_last_error(); code != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    message += ": ";
    message += text.data();
  }
  ERR_clear_error();
  return message;
}

// Overwrites key material when the scope ends.
class Wiper {
 public:
  Wiper(std::initializer_list<std::string*> secrets) : secrets_(secrets) {}
  ~Wiper() {
    for (std::string* s : secrets_) OPENSSL_cleanse(s->data(), s->size());
  }
  Wiper(const Wiper&) = delete;
  Wiper& operator=(const Wiper&) = delete;

 private:
  std::vector<std::string*> secrets_;
};

Result<std::string, std::string> HkdfSha256(std::string_view salt, std::string_view ikm,
                                            std::string_view info, std::size_t length) {
  // Fetched once: an algorithm lookup per call costs locks and string
  // compares; the fetched EVP_KDF is immutable and shared across threads.
  static const KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  const KdfCtxPtr ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) return MakeUnexpected(OpenSslError("HKDF setup"));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Input(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Input(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Input(info), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), Bytes(out), out.size(), params) != 1) {
    return MakeUnexpected(OpenSslError("HKDF"));
  }
  return out;
}

// P-256 domain parameters, built once. Every key made from a curve name
// builds the curve afresh (Montgomery constants: modular inversions), which
// was most of Encrypt's time; keys made from this template copy it instead.
const EVP_PKEY* P256Params() {
  static const PkeyPtr params = [] {
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1 ||
        EVP_PKEY_paramgen(ctx.get(), &raw) != 1) {
      ERR_clear_error();
      return PkeyPtr();
    }
    return PkeyPtr(raw);
  }();
  return params.get();
}

// Imports an uncompressed point; fails unless it lies on P-256.
PkeyPtr PublicKeyFromPoint(std::string_view point) {
  const EVP_PKEY* params = P256Params();
  if (params == nullptr) return nullptr;
  PkeyPtr key(EVP_PKEY_dup(const_cast<EVP_PKEY*>(params)));
  if (!key || EVP_PKEY_set1_encoded_public_key(key.get(), Bytes(point), point.size()) != 1) {
    return nullptr;
  }
  const PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  // The quick check (coordinates in range, point on the curve) is the whole
  // check for P-256: its cofactor is 1, so every point on it has the group's
  // order, and the full check's extra scalar multiplication by the order only
  // re-proves that (it cost a quarter of Encrypt).
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) return nullptr;
  return key;
}

// Builds a key pair from a raw 32-byte scalar; the public point is computed
// here because OpenSSL 3.0 does not derive it on import.
Result<PkeyPtr, std::string> KeyPairFromScalar(std::string_view scalar) {
  const BnPtr d(BN_secure_new());
  const GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!d || !group ||
      BN_bin2bn(Bytes(scalar), static_cast<int>(scalar.size()), d.get()) == nullptr) {
    return MakeUnexpected(OpenSslError("P-256 setup"));
  }
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return MakeUnexpected(std::string("is not a valid P-256 private scalar"));
  }
  const PointPtr point(EC_POINT_new(group.get()));
  std::array<unsigned char, kPointBytes> pub{};
  if (!point || EC_POINT_mul(group.get(), point.get(), d.get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, pub.data(),
                         pub.size(), nullptr) != pub.size()) {
    return MakeUnexpected(OpenSslError("P-256 public point"));
  }
  const ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kCurveName, 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(),
                                       pub.size()) != 1) {
    return MakeUnexpected(OpenSslError("P-256 key parameters"));
  }
  const ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return MakeUnexpected(OpenSslError("P-256 key import"));
  }
  return PkeyPtr(raw);
}

Result<PkeyPtr, std::string> GenerateKeyPair() {
  const EVP_PKEY* params = P256Params();
  const PkeyCtxPtr ctx(params != nullptr
                           ? EVP_PKEY_CTX_new_from_pkey(nullptr, const_cast<EVP_PKEY*>(params),
                                                        nullptr)
                           : nullptr);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    return MakeUnexpected(OpenSslError("P-256 key generation"));
  }
  return PkeyPtr(raw);
}

// The 65-byte uncompressed public point; empty on failure.
std::string PublicPoint(const EVP_PKEY* key) {
  std::string out(kPointBytes, '\0');
  std::size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, Bytes(out),
                                      out.size(), &length) != 1 ||
      length != kPointBytes) {
    ERR_clear_error();
    return {};
  }
  return out;
}

Result<std::string, std::string> Ecdh(EVP_PKEY* own, EVP_PKEY* peer) {
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  std::size_t length = 0;
  // validate_peer 0: the peer key was checked on import (PublicKeyFromPoint,
  // the quick check, which is the whole check for P-256); set_peer's own
  // validation is the full check with its extra scalar multiplication, a
  // third of Encrypt's time.
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, 0) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1) {
    return MakeUnexpected(OpenSslError("ECDH"));
  }
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(), Bytes(secret), &length) != 1) {
    return MakeUnexpected(OpenSslError("ECDH"));
  }
  secret.resize(length);
  return secret;
}


}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{Bytes(bytes)[i]} << 16) |
                            (std::uint32_t{Bytes(bytes)[i + 1]} << 8) | Bytes(bytes)[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t{Bytes(bytes)[i]} << 16;
    if (rest == 2) n |= std::uint32_t{Bytes(bytes)[i + 1]} << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::size_t length = text.size();
  std::size_t padding = 0;
  while (length > 0 && padding < 2 && text[length - 1] == '=') {
    --length;
    ++padding;
  }
  if (padding > 0 && text.size() % 4 != 0) return std::nullopt;
  if (length % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(length * 3 / 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (std::size_t i = 0; i < length; ++i) {
    const char c = text[i];
    std::uint32_t value;
    if (c >= 'A' && c <= 'Z') {
      value = static_cast<std::uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      value = static_cast<std::uint32_t>(c - 'a' + 26);
    } else if (c >= '0' && c <= '9') {
      value = static_cast<std::uint32_t>(c - '0' + 52);
    } else if (c == '-') {
      value = 62;
    } else if (c == '_') {
      value = 63;
    } else {
      return std::nullopt;
    }
    bits = (bits << 6) | value;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  return out;
}

Result<std::string, std::string> Encrypt(std::string_view plaintext,
                                         std::string_view ua_public_raw65,
                                         std::string_view auth_secret16,
                                         const EncryptParams* fixed) {
  if (plaintext.size() > kMaxPlaintextBytes) {
    return MakeUnexpected("web push payload too large: " + std::to_string(plaintext.size()) +
                          " bytes, the limit is " + std::to_string(kMaxPlaintextBytes));
  }
  if (ua_public_raw65.size() != kPointBytes || ua_public_raw65[0] != '\x04') {
    return MakeUnexpected("ua public key must be a 65-byte uncompressed P-256 point, got " +
                          std::to_string(ua_public_raw65.size()) + " bytes");
  }
  if (auth_secret16.size() != kAuthBytes) {
    return MakeUnexpected("auth secret must be 16 bytes, got " +
                          std::to_string(auth_secret16.size()));
  }
  const PkeyPtr ua_key = PublicKeyFromPoint(ua_public_raw65);
  if (!ua_key) {
    ERR_clear_error();
    return MakeUnexpected(std::string("ua public key is not a point on P-256"));
  }

  Result<PkeyPtr, std::string> as_key = MakeUnexpected(std::string());
  std::string salt(kSaltBytes, '\0');
  if (fixed != nullptr) {
    if (fixed->salt.size() != kSaltBytes) {
      return MakeUnexpected(std::string("salt must be 16 bytes"));
    }
    if (fixed->as_private_raw.size() != kScalarBytes) {
      return MakeUnexpected(std::string("application server private key must be 32 bytes"));
    }
    salt = fixed->salt;
    as_key = KeyPairFromScalar(fixed->as_private_raw);
    if (!as_key) return MakeUnexpected("application server private key " + as_key.error());
  } else {
    if (RAND_bytes(Bytes(salt), static_cast<int>(salt.size())) != 1) {
      return MakeUnexpected(OpenSslError("salt generation"));
    }
    as_key = GenerateKeyPair();
    if (!as_key) return MakeUnexpected(as_key.error());
  }
  const std::string as_public = PublicPoint(as_key->get());
  if (as_public.empty()) return MakeUnexpected(std::string("openssl: public key export failed"));

  std::string ecdh_secret, ikm, cek, nonce;
  const Wiper wiper{&ecdh_secret, &ikm, &cek, &nonce};
  auto shared = Ecdh(as_key->get(), ua_key.get());
  if (!shared) return MakeUnexpected(shared.error());
  ecdh_secret = std::move(*shared);

  // RFC 8291 §3.4: the auth secret and both public keys bind the IKM to this
  // subscription; RFC 8188 §2.2-2.3 then derive the content key and nonce.
  std::string key_info = "WebPush: info";
  key_info += '\0';
  key_info += ua_public_raw65;
  key_info += as_public;
  auto derived = HkdfSha256(auth_secret16, ecdh_secret, key_info, 32);
  if (!derived) return MakeUnexpected(derived.error());
  ikm = std::move(*derived);
  derived = HkdfSha256(salt, ikm, std::string_view("Content-Encoding: aes128gcm\0", 28), 16);
  if (!derived) return MakeUnexpected(derived.error());
  cek = std::move(*derived);
  derived = HkdfSha256(salt, ikm, std::string_view("Content-Encoding: nonce\0", 24), 12);
  if (!derived) return MakeUnexpected(derived.error());
  nonce = std::move(*derived);

  std::string body;
  body.reserve(kHeaderBytes + plaintext.size() + 1 + kTagBytes);
  body += salt;
  for (const int shift : {24, 16, 8, 0}) body += static_cast<char>((kRecordSize >> shift) & 0xff);
  body += static_cast<char>(kPointBytes);
  body += as_public;

  // The only (hence last) record: plaintext, then the 0x02 delimiter, no padding.
  std::string record(plaintext);
  record += '\x02';
  body.resize(kHeaderBytes + record.size() + kTagBytes);
  unsigned char* ciphertext = Bytes(body) + kHeaderBytes;
  const CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int written = 0;
  int final_written = 0;
  if (!ctx ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_128_gcm(), Bytes(cek), Bytes(nonce), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ciphertext, &written, Bytes(record),
                        static_cast<int>(record.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &final_written) != 1 ||
      static_cast<std::size_t>(written + final_written) != record.size()) {
    return MakeUnexpected(OpenSslError("AES-128-GCM"));
  }
  OSSL_PARAM tag_params[] = {OSSL_PARAM_construct_octet_string(
                                 OSSL_CIPHER_PARAM_AEAD_TAG, ciphertext + record.size(), kTagBytes),
                             OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(ctx.get(), tag_params) != 1) {
    return MakeUnexpected(OpenSslError("AES-128-GCM tag"));
  }
  return body;
}

void VapidKey::PkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

VapidKey::VapidKey(PkeyPtr key) : key_(std::move(key)) {
  const std::string point = PublicPoint(key_.get());
  if (point.empty()) throw std::runtime_error("openssl: VAPID public key export failed");
  public_b64_ = Base64UrlEncode(point);
}

VapidKey::VapidKey(const VapidKey& other) : public_b64_(other.public_b64_) {
  if (other.key_ != nullptr && EVP_PKEY_up_ref(other.key_.get()) == 1) {
    key_.reset(other.key_.get());
  }
}

VapidKey& VapidKey::operator=(const VapidKey& other) {
  if (this != &other) *this = VapidKey(other);
  return *this;
}

Result<VapidKey, std::string> VapidKey::FromPrivateBase64Url(std::string_view d) {
  std::optional<std::string> scalar = Base64UrlDecode(d);
  if (!scalar) return MakeUnexpected(std::string("VAPID private key is not valid base64url"));
  const Wiper wiper{&*scalar};
  if (scalar->size() != kScalarBytes) {
    return MakeUnexpected("VAPID private key must be 32 bytes, got " +
                          std::to_string(scalar->size()));
  }
  auto key = KeyPairFromScalar(*scalar);
  if (!key) return MakeUnexpected("VAPID private key " + key.error());
  return VapidKey(PkeyPtr(key->release()));
}

VapidKey VapidKey::Generate() {
  auto key = GenerateKeyPair();
  if (!key) throw std::runtime_error(key.error());
  return VapidKey(PkeyPtr(key->release()));
}

std::string VapidKey::PrivateKeyBase64Url() const {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    throw std::runtime_error(OpenSslError("VAPID private key export"));
  }
  const BnPtr d(raw);
  std::string scalar(kScalarBytes, '\0');
  const Wiper wiper{&scalar};
  if (BN_bn2binpad(d.get(), Bytes(scalar), kScalarWidth) != kScalarWidth) {
    throw std::runtime_error(OpenSslError("VAPID private key export"));
  }
  return Base64UrlEncode(scalar);
}

std::string VapidKey::SignJwt(std::string_view audience_origin, std::string_view subject,
                              std::int64_t expires_unix) const {
  std::string claims = "{\"aud\":";
  AppendJsonString(audience_origin, claims);
  claims += ",\"exp\":" + std::to_string(expires_unix) + ",\"sub\":";
  AppendJsonString(subject, claims);
  claims += '}';
  std::string jwt =
      Base64UrlEncode(R"({"typ":"JWT","alg":"ES256"})") + "." + Base64UrlEncode(claims);

  const MdCtxPtr ctx(EVP_MD_CTX_new());
  const int init = ctx ? EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr,
                                               key_.get(), nullptr)
                       : 0;
  std::size_t der_length = 0;
  if (init != 1 || EVP_DigestSign(ctx.get(), nullptr, &der_length, Bytes(jwt), jwt.size()) != 1) {
    throw std::runtime_error(OpenSslError("ES256 signing"));
  }
  std::string der(der_length, '\0');
  if (EVP_DigestSign(ctx.get(), Bytes(der), &der_length, Bytes(jwt), jwt.size()) != 1) {
    throw std::runtime_error(OpenSslError("ES256 signing"));
  }
  // JWS wants the fixed-width r || s form (RFC 7518 §3.4), not DER.
  const unsigned char* cursor = Bytes(der);
  const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length)));
  std::string raw(2 * kScalarBytes, '\0');
  const auto put = [&raw](const BIGNUM* n, std::size_t offset) {
    return BN_bn2binpad(n, Bytes(raw) + offset, kScalarWidth) == kScalarWidth;
  };
  if (!sig || !put(ECDSA_SIG_get0_r(sig.get()), 0) ||
      !put(ECDSA_SIG_get0_s(sig.get()), kScalarBytes)) {
    throw std::runtime_error(OpenSslError("ES256 signature conversion"));
  }
  jwt += '.';
  jwt += Base64UrlEncode(raw);
  return jwt;
}

std::string VapidKey::AuthorizationHeader(std::string_view jwt) const {
  std::string out = "vapid t=";
  out += jwt;
  out += ", k=";
  out += public_b64_;
  return out;
}

std::string AudienceOf(std::string_view endpoint_url) {
  const std::size_t scheme_end = endpoint_url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return {};
  const std::string scheme = AsciiLowercase(endpoint_url.substr(0, scheme_end));
  std::string_view authority = endpoint_url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  // A bracketed IPv6 literal contains colons of its own.
  const std::size_t host_end = authority.empty() || authority.front() != '['
                                   ? authority.rfind(':')
                                   : authority.find(':', authority.find(']'));
  std::string_view host = authority.substr(0, host_end);
  std::string_view port;
  if (host_end != std::string_view::npos) port = authority.substr(host_end + 1);
  if (host.empty()) return {};
  for (const char c : port) {
    if (c < '0' || c > '9') return {};
  }
  std::string origin = scheme + "://" + AsciiLowercase(host);
  const bool default_port =
      port.empty() || (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
  if (!default_port) {
    origin += ':';
    origin += port;
  }
  return origin;
}

}  // namespace omnigate::providers::webpush
