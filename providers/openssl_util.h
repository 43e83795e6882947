#pragma once
// Private to providers/: RAII holders for the OpenSSL handles the receipt
// verifiers use, and the keyed digests they share. Public headers
// forward-declare OpenSSL's structs instead of including this.

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace omnigate::providers::detail {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Raw HMAC digests (20 and 32 bytes); empty only if OpenSSL fails.
std::string HmacSha1(std::string_view key, std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);

std::string HexLower(std::string_view bytes);

// "openssl: <step> failed: <last error>", and empties this thread's error
// queue so the failure does not surface later in unrelated TLS code.
std::string OpenSslError(std::string_view step);

}  // namespace omnigate::providers::detail
