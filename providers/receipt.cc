#include "providers/receipt.h"

#include <openssl/crypto.h>

namespace omnigate::providers {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace omnigate::providers
