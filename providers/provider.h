#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "providers/channel.h"

namespace omnigate::providers {

// What a provider's answer means for the pipeline. Each adapter maps its
// native responses (HTTP status, body, curl error) to one of these in exactly
// one function.
enum class SendStatus : std::uint8_t {
  accepted,         // the provider took the message; provider_message_id is set
  retry,            // transient: network error, timeout, 5xx. Try again later.
  throttled,        // the provider asked us to slow down (429); honour retry_after
  permanent,        // will never succeed as sent (4xx, bad credentials, ...)
  invalid_address,  // permanent, and the recipient address is the reason
};

constexpr std::string_view ToString(SendStatus s) {
  switch (s) {
    case SendStatus::accepted: return "accepted";
    case SendStatus::retry: return "retry";
    case SendStatus::throttled: return "throttled";
    case SendStatus::permanent: return "permanent";
    case SendStatus::invalid_address: return "invalid_address";
  }
  return "unknown";
}

struct SendResult {
  SendStatus status = SendStatus::retry;
  std::string provider_message_id;
  // Short machine-readable reason for non-accepted results, e.g. "http_503",
  // "timeout", "twilio_21211". Never contains PII.
  std::string reason;
  std::chrono::milliseconds retry_after{0};
  // Billing units the provider will charge (SMS segments); 0 when unknown.
  int segments = 0;
  std::chrono::microseconds latency{0};
};

// SMS content as the adapters see it. Views stay valid until the callback runs.
struct SmsMessage {
  std::string_view to;      // E.164
  std::string_view text;    // UTF-8
  std::string_view sender;  // optional alphanumeric sender or number; empty = provider default
};

// One outbound message, channel-specific part selected by `channel`.
// Later channels add their own struct here.
struct OutboundMessage {
  std::string_view request_id;
  std::string_view tenant;
  Channel channel = Channel::sms;
  int attempt = 1;
  // Bulk-lane messages wait behind transactional ones for a connection slot.
  bool bulk = false;
  SmsMessage sms;
};

using SendCallback = std::function<void(SendResult)>;

// A provider adapter. Instances are created per worker and used only on that
// worker's io_context thread: Send never blocks and calls `done` exactly once,
// on the same thread, possibly after the provider's own timeout.
class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  virtual Channel channel() const = 0;
  virtual void Send(const OutboundMessage& message, SendCallback done) = 0;
  // Messages currently inside the adapter (queued for a connection or on the wire).
  virtual std::size_t in_flight() const = 0;
};

}  // namespace omnigate::providers
