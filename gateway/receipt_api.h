#pragma once

#include <memory>

#include "common/clock.h"
#include "gateway/config.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/state/blocking_store.h"

namespace omnigate::queue {
class KafkaProducer;
}

namespace omnigate::gateway {

// POST /v1/receipts/{provider}: delivery receipts from providers (DESIGN.md
// §6, docs/api.md "Delivery receipts"). Each is checked by its provider's
// signature (providers/*/…_receipt.h), found by the provider's message id
// in the status store, deduplicated, added to the request's history, sent
// to the events topic as a non-final event, and, for an unsubscribe, a spam
// report, a hard bounce or an SMS STOP, recorded as a suppression.
//
// The route is open (providers cannot send our admin token): a bad
// signature is 401 and changes nothing, a malformed body 400 with the
// reason, an unknown message id 200 (a provider retries anything else for
// days); every outcome is counted in omnigate_receipts_total. The handler
// waits for the store on the HTTP thread, not for Kafka's acknowledgement.
struct ReceiptApiOptions {
  std::shared_ptr<const Config> config;
  state::BlockingStore* store = nullptr;
  queue::KafkaProducer* producer = nullptr;
  GatewayMetrics* metrics = nullptr;
  const Clock* clock = nullptr;
};
// Errors in config that only the receipts route sees (a SendGrid key that
// does not load) are returned; nothing is registered then.
Result<Ok, std::string> RegisterReceiptRoutes(HttpServer& http, ReceiptApiOptions options);

// Largest receipt body (SendGrid batches up to a few hundred events).
inline constexpr std::size_t kReceiptMaxBodyBytes = 1u << 20;

}  // namespace omnigate::gateway
