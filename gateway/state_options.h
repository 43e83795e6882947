#pragma once

#include "common/clock.h"
#include "gateway/config.h"
#include "gateway/state/redis_store.h"

namespace omnigate::gateway {

// The redis connection settings of `state.redis`, for every connection the
// gateway opens (one per worker, one for the admin API).
inline state::RedisStoreOptions RedisOptions(const RedisStateConfig& r) {
  return {.host = r.host,
          .port = r.port,
          .password = r.password,
          .reconnect_backoff = r.reconnect_backoff,
          .command_timeout = r.command_timeout};
}

}  // namespace omnigate::gateway
