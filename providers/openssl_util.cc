#include "providers/openssl_util.h"

#include <openssl/err.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>

namespace omnigate::providers::detail {
namespace {

std::string Hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) return {};
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  // A string_view of "" may hold a null pointer; HMAC wants a real one.
  static constexpr unsigned char kNothing = 0;
  const auto* data_bytes =
      data.empty() ? &kNothing : reinterpret_cast<const unsigned char*>(data.data());
  const void* key_bytes = key.empty() ? static_cast<const void*>(&kNothing) : key.data();
  if (HMAC(md, key_bytes, static_cast<int>(key.size()), data_bytes, data.size(), out.data(),
           &length) == nullptr) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

}  // namespace

std::string HmacSha1(std::string_view key, std::string_view data) {
  return Hmac(EVP_sha1(), key, data);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  return Hmac(EVP_sha256(), key, data);
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string OpenSslError(std::string_view step) {
  std::string message = "openssl: " + std::string(step) + " failed";
  if (const unsigned long code = ERR_peek_last_error(); code != 0) {  // NOLINT(google-runtime-int)
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    message += ": ";
    message += text.data();
  }
  ERR_clear_error();
  return message;
}

}  // namespace omnigate::providers::detail
