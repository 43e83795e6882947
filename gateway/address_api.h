#pragma once

#include <cstddef>

#include "common/clock.h"
#include "gateway/http_server.h"
#include "gateway/state/blocking_store.h"

namespace omnigate::gateway {

// The admin API for opt-outs and opt-ins (DESIGN.md §6, docs/api.md):
// GET/POST/DELETE on /v1/suppressions and /v1/consents, all Access::admin.
// Records are written with policy::AddressKey and EncodeAddressRecord, the
// key and format the policy checks read, with addresses normalised by
// policy::NormalizeAddress, so that what an operator records is what a send
// is checked against.
//
// The handlers run on the HTTP server's thread and wait for the store: a bulk
// import holds the listener while its batches are written (about a second
// for the largest import on redis), so large imports belong off-peak.
// `store` and `clock` must outlive `http`.
void RegisterAddressRoutes(HttpServer& http, state::BlockingStore& store, const Clock& clock);

// Limits of one POST or DELETE (documented in docs/api.md).
inline constexpr std::size_t kAddressApiMaxLines = 100'000;
inline constexpr std::size_t kAddressApiMaxBodyBytes = 16u << 20;
// Records written per store round trip.
inline constexpr std::size_t kAddressApiBatchOps = 500;
// Errors listed in one response; the rest are counted in "errors_omitted".
inline constexpr std::size_t kAddressApiMaxListedErrors = 1000;

}  // namespace omnigate::gateway
