#pragma once
// Web Push message encryption (RFC 8291, aes128gcm content coding of RFC 8188)
// and VAPID application-server identification (RFC 8292), on OpenSSL 3.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY; keeps <openssl/*.h> out of this header.

namespace omnigate::providers::webpush {

// URL-safe base64 (RFC 4648 §5) without padding.
std::string Base64UrlEncode(std::string_view bytes);

// Accepts input with or without '=' padding; nullopt on characters outside the
// URL-safe alphabet, misplaced padding or an impossible length.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Push services must accept bodies up to 4096 bytes (RFC 8291 §4). The body is
// an 86-byte header plus one record of plaintext, the 0x02 delimiter and the
// 16-byte tag, which leaves this much plaintext.
inline constexpr std::size_t kMaxPlaintextBytes = 4096 - 86 - 1 - 16;  // 3993

// Fixed inputs for reproducible output (test vectors). Production code passes
// none: a fresh ephemeral key and a random salt are used for every message.
struct EncryptParams {
  std::string as_private_raw;  // 32-byte P-256 scalar of the application server
  std::string salt;            // 16 bytes
};

// Encrypts `plaintext` for a subscription: `ua_public_raw65` is the p256dh key
// (uncompressed point) and `auth_secret16` the auth secret, both decoded.
// Returns the complete request body: salt(16) || rs(4) = 4096 || idlen(1) = 65
// || as_public(65) || AES-128-GCM(plaintext || 0x02) || tag(16).
Result<std::string, std::string> Encrypt(std::string_view plaintext,
                                         std::string_view ua_public_raw65,
                                         std::string_view auth_secret16,
                                         const EncryptParams* fixed = nullptr);

// A VAPID signing key (ECDSA P-256). Copies share the immutable OpenSSL key;
// const methods may be called from several threads at once. A moved-from key
// may only be assigned to or destroyed.
class VapidKey {
 public:
  // `d` is the 32-byte private scalar in base64url, as `web-push
  // generate-vapid-keys` prints it.
  static Result<VapidKey, std::string> FromPrivateBase64Url(std::string_view d);
  static VapidKey Generate();

  VapidKey(const VapidKey& other);
  VapidKey& operator=(const VapidKey& other);
  VapidKey(VapidKey&&) noexcept = default;
  VapidKey& operator=(VapidKey&&) noexcept = default;
  ~VapidKey() = default;

  // The 65-byte uncompressed public point (the applicationServerKey browsers
  // subscribe with), base64url.
  std::string PublicKeyBase64Url() const { return public_b64_; }
  std::string PrivateKeyBase64Url() const;

  // A compact ES256 JWT with claims {"aud","exp","sub"} (RFC 8292 §2).
  std::string SignJwt(std::string_view audience_origin, std::string_view subject,
                      std::int64_t expires_unix) const;

  // The Authorization header value: "vapid t=<jwt>, k=<public key>".
  std::string AuthorizationHeader(std::string_view jwt) const;

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* key) const;
  };
  using PkeyPtr = std::unique_ptr<evp_pkey_st, PkeyFree>;

  explicit VapidKey(PkeyPtr key);

  PkeyPtr key_;
  std::string public_b64_;
};

// The origin (scheme://host[:port]) of a push endpoint, the JWT "aud" value.
// Scheme and host are lowercased, default ports (80, 443) dropped, userinfo
// ignored. Empty when the URL has no scheme or host.
std::string AudienceOf(std::string_view endpoint_url);

}  // namespace omnigate::providers::webpush
