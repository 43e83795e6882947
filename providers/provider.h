#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "providers/channel.h"
#include "providers/concurrency_limiter.h"

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
  // Never reached the wire (abandoned in the adapter's queue at shutdown):
  // sending it again later cannot duplicate anything.
  bool not_sent = false;
  // The adapter's concurrency slot this send held. It stays taken while the
  // caller holds it and frees when released or dropped: the pipeline keeps
  // it until an accepted send is recorded in the state store, so a
  // provider's max_in_flight also bounds the sends a crash can repeat.
  LimiterSlot slot;
};

// Channel content as the adapters see it. Views stay valid until the
// callback runs.
struct SmsMessage {
  std::string_view to;      // E.164
  std::string_view text;    // UTF-8
  std::string_view sender;  // optional alphanumeric sender or number; empty = provider default
};

struct EmailMessage {
  std::string_view to;               // addr-spec, validated by the decoder
  std::string_view from;             // "Name <addr>" or addr; empty = provider default
  std::string_view subject;          // UTF-8
  std::string_view text;             // text/plain part; may be empty when html is set
  std::string_view html;             // text/html part; may be empty when text is set
  std::string_view unsubscribe_url;  // adds List-Unsubscribe(-Post) when set
};

struct ViberMessage {
  std::string_view to;  // Viber receiver id (or phone, for aggregators)
  std::string_view text;
  std::string_view image_url;
  std::string_view button_caption;  // both set or both empty
  std::string_view button_url;
};

enum class PushUrgency : std::uint8_t { very_low, low, normal, high };

constexpr std::string_view ToString(PushUrgency u) {
  switch (u) {
    case PushUrgency::very_low: return "very-low";
    case PushUrgency::low: return "low";
    case PushUrgency::normal: return "normal";
    case PushUrgency::high: return "high";
  }
  return "normal";
}

struct WebPushMessage {
  std::string_view endpoint;  // https URL of the push service
  std::string_view p256dh;    // base64url, 65-byte uncompressed P-256 point
  std::string_view auth;      // base64url, 16-byte auth secret
  std::string_view payload;   // plaintext to encrypt (JSON built by the gateway)
  std::chrono::seconds ttl{86'400};
  PushUrgency urgency = PushUrgency::normal;
  std::string_view topic;  // optional, <= 32 base64url characters
};

// One outbound message; the part matching `channel` is set.
struct OutboundMessage {
  std::string_view request_id;
  std::string_view tenant;
  Channel channel = Channel::sms;
  int attempt = 1;
  // Bulk-lane messages wait behind transactional ones for a connection slot.
  bool bulk = false;
  SmsMessage sms;
  EmailMessage email;
  ViberMessage viber;
  WebPushMessage webpush;
};

using SendCallback = std::function<void(SendResult)>;

// A provider adapter. Instances are created per worker and used only on that
// worker's io_context thread: Send never blocks and calls `done` exactly once,
// on the same thread, possibly after the provider's own timeout. A failure
// found without any I/O (content the provider cannot express) may call `done`
// before Send returns.
class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  virtual Channel channel() const = 0;
  virtual void Send(const OutboundMessage& message, SendCallback done) = 0;
  // Messages currently inside the adapter (queued for a connection or on the wire).
  virtual std::size_t in_flight() const = 0;
  // Shutdown: every message still queued for a connection slot completes at
  // once with `not_sent` (status retry, reason "shutdown"); those on the wire
  // continue. Returns how many were queued.
  virtual std::size_t AbandonQueued() = 0;
};

}  // namespace omnigate::providers
