#pragma once
// SendGrid's Event Webhook: a JSON array of events, signed (when "Signed Event
// Webhook" is on) with ECDSA P-256 / SHA-256 over the timestamp header's text
// followed by the raw body; the signature header is base64 DER, the
// verification key base64 DER SubjectPublicKeyInfo, as SendGrid's settings
// page shows it.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "providers/receipt.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY; keeps <openssl/*.h> out of this header.

namespace omnigate::providers {

inline constexpr std::string_view kSendGridSignatureHeader =
    "X-Twilio-Email-Event-Webhook-Signature";
inline constexpr std::string_view kSendGridTimestampHeader =
    "X-Twilio-Email-Event-Webhook-Timestamp";
// How far the signed timestamp may be from our clock, either way, before a
// request counts as a replay.
inline constexpr std::chrono::seconds kSendGridReplayWindow = std::chrono::minutes(5);

// The configured verification key, parsed once (at config load, so that a
// bad key is a config error). Immutable: Verify may run on several threads at
// once, each call with its own OpenSSL digest context. Move-only.
class SendGridWebhookVerifier {
 public:
  // `public_key` is the base64 DER SubjectPublicKeyInfo of a P-256 key (a PEM
  // "PUBLIC KEY" block is accepted too). The error says what is wrong with it.
  static Result<SendGridWebhookVerifier, std::string> FromPublicKey(std::string_view public_key);

  // Ok when `signature_header` (base64 DER) is a valid signature of
  // `timestamp_header` + `body` and the timestamp (unix seconds) lies within
  // `replay_window` of `now`; otherwise 401 with the reason.
  Result<Ok, ReceiptError> Verify(std::string_view body, std::string_view signature_header,
                                  std::string_view timestamp_header,
                                  std::chrono::system_clock::time_point now,
                                  std::chrono::seconds replay_window = kSendGridReplayWindow) const;

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* key) const;
  };
  using PkeyPtr = std::unique_ptr<evp_pkey_st, PkeyFree>;

  explicit SendGridWebhookVerifier(PkeyPtr key) : key_(std::move(key)) {}

  PkeyPtr key_;
};

// Parses an event batch without checking any signature (the caller has).
// Events of types that are not receipts are skipped; 400 for a body that is
// not a JSON array of objects each with an "event" string.
ReceiptResult ParseSendGridEvents(std::string_view body);

// Verify, then ParseSendGridEvents.
ReceiptResult ParseSendGridEventWebhook(const SendGridWebhookVerifier& verifier,
                                        std::string_view body, std::string_view signature_header,
                                        std::string_view timestamp_header,
                                        std::chrono::system_clock::time_point now,
                                        std::chrono::seconds replay_window = kSendGridReplayWindow);

}  // namespace omnigate::providers
