#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>

namespace omnigate {

void SetThreadName(std::string_view name) {
  char buf[16];
  const std::size_t n = std::min(name.size(), sizeof buf - 1);
  name.copy(buf, n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);  // fails only for a name over 15 bytes
}

std::string ThreadName() {
  char buf[16] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return {};
  return buf;
}

}  // namespace omnigate
