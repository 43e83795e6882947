#pragma once
// Delivery receipts as every provider's parser returns them: one normalised
// shape, whatever the provider's webhook looked like. The parsers and
// signature checks live next to each adapter (twilio/twilio_receipt.h,
// sendgrid/sendgrid_receipt.h, viber/viber_receipt.h, and
// generic/generic_receipt.h for the formats described in config); they are pure
// functions of the request's bytes and header values, so the HTTP route, the
// mock provider and the tests call them the same way. Header values are passed
// in already looked up (case-insensitively, by the caller), empty when absent.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace omnigate::providers {

enum class ReceiptStatus : std::uint8_t {
  sent,          // provider-side progress: queued, sending, sent, processed, deferred
  delivered,     // the handset or the receiving mail server took it
  read,          // the recipient opened the chat or message
  undelivered,   // the carrier or mailbox could not deliver it (bounce, unreachable)
  failed,        // the provider itself failed or dropped it
  opened,        // email open tracking
  clicked,       // email click tracking
  unsubscribed,  // the recipient opted out through the provider
  complained,    // the recipient reported the email as spam
};

constexpr std::string_view ToString(ReceiptStatus s) {
  switch (s) {
    case ReceiptStatus::sent:
      return "sent";
    case ReceiptStatus::delivered:
      return "delivered";
    case ReceiptStatus::read:
      return "read";
    case ReceiptStatus::undelivered:
      return "undelivered";
    case ReceiptStatus::failed:
      return "failed";
    case ReceiptStatus::opened:
      return "opened";
    case ReceiptStatus::clicked:
      return "clicked";
    case ReceiptStatus::unsubscribed:
      return "unsubscribed";
    case ReceiptStatus::complained:
      return "complained";
  }
  return "unknown";
}

// Every status, for parsing our own words (config) and listing them in errors.
inline constexpr ReceiptStatus kReceiptStatuses[] = {
    ReceiptStatus::sent,        ReceiptStatus::delivered,    ReceiptStatus::read,
    ReceiptStatus::undelivered, ReceiptStatus::failed,       ReceiptStatus::opened,
    ReceiptStatus::clicked,     ReceiptStatus::unsubscribed, ReceiptStatus::complained,
};

// The inverse of ToString; nullopt for anything else (case matters).
constexpr std::optional<ReceiptStatus> ReceiptStatusFromString(std::string_view s) {
  for (const ReceiptStatus status : kReceiptStatuses) {
    if (ToString(status) == s) return status;
  }
  return std::nullopt;
}

// Values of Receipt::suppress_reason.
inline constexpr std::string_view kSuppressUnsubscribed = "unsubscribed";
inline constexpr std::string_view kSuppressSpamReport = "spam_report";
inline constexpr std::string_view kSuppressHardBounce = "hard_bounce";
inline constexpr std::string_view kSuppressSmsStop = "sms_stop";

struct Receipt {
  // The id the provider gave the message at send time, in the same form the
  // adapter recorded it (SendResult::provider_message_id). Empty for events
  // about a recipient rather than a message (a Viber unsubscribe).
  std::string provider_message_id;
  // Our request id when the provider echoes it (SendGrid's custom_args
  // omnigate_id), else empty.
  std::string request_id;
  ReceiptStatus status = ReceiptStatus::sent;
  std::string raw_status;  // the provider's own word for it: "undelivered", "bounce", "seen"
  std::string error_code;  // provider's error code or reason when it gives one
  // The provider's event id or idempotency token, to drop redelivered
  // webhooks; empty when the provider has none.
  std::string dedup_key;
  std::int64_t timestamp_ms = 0;  // the provider's event time; 0 when it gives none
  // Non-empty when this receipt must add a suppression: one of the
  // kSuppress* values above.
  std::string suppress_reason;
  // The recipient's address when the provider reports it (phone, email,
  // Viber user id). Personal data: mask it before logging.
  std::string address;
};

struct ReceiptError {
  int http_status = 400;  // 401: missing or wrong signature; 400: malformed body
  std::string reason;     // for the response body and the log; names the field or header
};

// A webhook request may carry several receipts (SendGrid batches events) or
// none (an event that is not about delivery); refusals are ReceiptError.
using ReceiptResult = Result<std::vector<Receipt>, ReceiptError>;

inline Unexpected<ReceiptError> Unauthorized(std::string reason) {
  return MakeUnexpected(ReceiptError{401, std::move(reason)});
}
inline Unexpected<ReceiptError> Malformed(std::string reason) {
  return MakeUnexpected(ReceiptError{400, std::move(reason)});
}

// Compares a received signature with the expected one in time that depends
// only on the lengths, so a forger learns nothing from how fast a wrong guess
// is refused. The expected length is public (fixed by the algorithm).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace omnigate::providers
