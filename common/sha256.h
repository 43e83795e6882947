#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace omnigate {

// SHA-256 of `bytes` as lower-case hex, of the first `digest_bytes` bytes of
// the digest (32: all of it).
std::string Sha256Hex(std::string_view bytes, std::size_t digest_bytes = 32);

}  // namespace omnigate
