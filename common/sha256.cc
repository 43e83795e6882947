#include "common/sha256.h"

#include <openssl/evp.h>

#include <algorithm>

namespace omnigate {

std::string Sha256Hex(std::string_view bytes, std::size_t digest_bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t n = std::min<std::size_t>(size, digest_bytes);
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace omnigate
