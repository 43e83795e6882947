#include "common/hash.h"

#include <random>

namespace omnigate::hash_detail {

std::uint64_t RandomSeed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

}  // namespace omnigate::hash_detail
