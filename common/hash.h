#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace omnigate {

namespace hash_detail {

inline std::uint64_t Load8(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline std::uint64_t Load4(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The 128-bit product of a and b, its halves folded together: every output
// bit depends on every input bit.
__extension__ typedef unsigned __int128 U128;  // GCC and Clang on 64-bit targets
inline std::uint64_t Fold(std::uint64_t a, std::uint64_t b) {
  const U128 product = static_cast<U128>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

// Odd constants with about half their bits set.
inline constexpr std::uint64_t kK0 = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t kK1 = 0xd6e8feb86659fd93ULL;
inline constexpr std::uint64_t kK2 = 0xa0761d6478bd642fULL;
inline constexpr std::uint64_t kK3 = 0xe7037ed1a0b428dbULL;

std::uint64_t RandomSeed();

}  // namespace hash_detail

// A fast 64-bit hash of a byte string, for in-memory hash tables and filters:
// nothing stored or sent depends on it, and it is not cryptographic. It reads
// the input 16 bytes at a time and folds each block into the state with one
// 64x64->128-bit multiply, so the state store's 30-60 byte keys cost a few
// dozen instructions, against a few hundred for std::hash (murmur, one byte
// pattern at a time) that the store's maps and filters used before.
//
// Inputs that zero one factor of a multiply lose what came before them. The
// seed enters every block's factors, so with the process's random seed
// (ProcessHashSeed) a sender of request ids or addresses cannot choose keys
// that collide on purpose.
inline std::uint64_t Hash64(std::string_view s, std::uint64_t seed) {
  using namespace hash_detail;
  const char* p = s.data();
  const std::size_t n = s.size();
  std::uint64_t state = Fold(seed ^ kK0, static_cast<std::uint64_t>(n) ^ kK1);
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  if (n <= 16) {
    if (n >= 8) {
      a = Load8(p);
      b = Load8(p + n - 8);
    } else if (n >= 4) {
      a = Load4(p);
      b = Load4(p + n - 4);
    } else if (n > 0) {
      a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
          (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) |
          std::uint64_t{static_cast<unsigned char>(p[n - 1])};
    }
  } else {
    std::size_t left = n;
    while (left > 16) {
      state = Fold(Load8(p) ^ seed ^ kK2, Load8(p + 8) ^ state);
      p += 16;
      left -= 16;
    }
    // The last 16 bytes, overlapping the previous block when fewer are left.
    a = Load8(p + left - 16);
    b = Load8(p + left - 8);
  }
  return Fold(Fold(a ^ seed ^ kK2, b ^ state), state ^ kK3);
}

// A random seed drawn once per process (hash tables and filters that live
// in memory only).
inline std::uint64_t ProcessHashSeed() {
  static const std::uint64_t seed = hash_detail::RandomSeed();
  return seed;
}

// Hash64 with the process's seed, for unordered containers keyed by
// std::string: transparent, so a std::string_view finds a key without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return Hash64(s, ProcessHashSeed()); }
  std::size_t operator()(const std::string& s) const { return Hash64(s, ProcessHashSeed()); }
  std::size_t operator()(const char* s) const { return Hash64(s, ProcessHashSeed()); }
};

}  // namespace omnigate
