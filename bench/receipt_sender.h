#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace omnigate::bench {

// The delivery receipts a provider posts back after it accepted a message:
// what the mock provider does after answering, so that the gateway's
// receipt route, status store and receipt-timed cascades run against
// receipts signed exactly as the real providers sign theirs:
//   twilio   form status callback, X-Twilio-Signature (HMAC-SHA1 of URL + params)
//   sendgrid Event Webhook batch of one, ECDSA P-256 over timestamp + body
//   viber    callback JSON, X-Viber-Content-Signature (hex HMAC-SHA256)
//   generic  {"message_id","status","event_id"}, X-Signature (hex HMAC-SHA256)
// Web push has no receipts (its 404/410 at send time are the only ones).
//
// Per accepted message, one draw: `delivered` of them get a delivery
// receipt, `failed` a failure receipt, the rest none (silent, as a phone
// without Viber or a switched-off handset). Of those delivered, `read` also
// get a read receipt (Viber "seen", SendGrid "open") half a delay later.
// Each receipt is posted `delay_ms` (+ uniform [0, jitter_ms]) after the
// message was accepted. A 5xx or connection error is retried with backoff,
// as the providers do, up to five times; a 4xx is counted and dropped.
//
// Thread-safe: Schedule() is called from the mock's connection threads;
// posting runs on a thread of its own.
class ReceiptSender {
 public:
  enum class Api : std::uint8_t { twilio, sendgrid, viber, generic };
  static constexpr std::size_t kApiCount = 4;

  struct Settings {
    // Where each API's receipts go (a full URL, e.g.
    // http://127.0.0.1:8080/v1/receipts/viber-main). Twilio uses the
    // message's own StatusCallback when it has one. No URL: no receipts.
    std::array<std::string, kApiCount> url;
    double delivered = 1.0;
    double failed = 0.0;
    double read = 0.0;
    int delay_ms = 1000;
    int jitter_ms = 0;
  };

  // Keys the signatures need: the same secrets the mock checks on sends
  // (Twilio's auth token, Viber's bot token), the generic API's webhook
  // secret, and SendGrid's signing key. `sendgrid_private_key` is a PEM EC
  // P-256 private key; empty: a fresh one is made, whose public key
  // sendgrid_public_key() gives (base64 SPKI DER, as SendGrid shows it).
  struct Keys {
    std::string twilio_account_sid = "ACmock";
    std::string twilio_auth_token = "mock-token";
    std::string viber_auth_token = "viber-mock";
    std::string generic_secret = "generic-mock";
    std::string sendgrid_private_key;
  };

  ReceiptSender(Keys keys, std::uint64_t seed);
  ~ReceiptSender();
  ReceiptSender(const ReceiptSender&) = delete;
  ReceiptSender& operator=(const ReceiptSender&) = delete;

  // Loads the keys and starts the posting thread; the error says what is
  // wrong (a bad SendGrid key).
  std::string Start();
  void Stop();

  void Configure(const Settings& settings);
  Settings settings() const;
  // Settings from JSON: {"urls": {"viber": URL, ...}, "delivered": 0.8,
  // "failed": 0.1, "read": 0.5, "delay_ms": 500, "jitter_ms": 100}; keys
  // left out keep their value. The error names the bad field.
  std::string ConfigureJson(std::string_view json);

  // One accepted message. `id` is the provider message id handed out, `to`
  // the recipient as the API named it, `callback` Twilio's StatusCallback
  // (else empty). `random` is a fresh 64-bit draw.
  void Schedule(Api api, std::string_view id, std::string_view to, std::string_view callback,
                std::uint64_t random);

  const std::string& sendgrid_public_key() const { return sendgrid_public_key_; }
  bool enabled(Api api) const;
  // {"scheduled":{"delivered":N,"failed":N,"read":N},"posted":N,"accepted":N,
  //  "refused":N,"retried":N,"gave_up":N,"pending":N,"settings":{...}}
  std::string StatsJson() const;

 private:
  class Impl;
  Keys keys_;
  std::string sendgrid_public_key_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::bench
