#pragma once
// Twilio's message status callbacks (the StatusCallback URL of a send): an
// application/x-www-form-urlencoded POST signed with X-Twilio-Signature =
// base64(HMAC-SHA1(auth token, full URL + each param's name and value, sorted
// by name)). Stateless functions; any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/text.h"
#include "providers/receipt.h"

namespace omnigate::providers {

inline constexpr std::string_view kTwilioSignatureHeader = "X-Twilio-Signature";
inline constexpr std::string_view kTwilioIdempotencyHeader = "I-Twilio-Idempotency-Token";

// Twilio error 21610: the recipient replied STOP; further sends are refused.
inline constexpr std::string_view kTwilioErrorUnsubscribed = "21610";

// The URL Twilio signed: our public base URL as configured ("https://gw.example.com",
// a trailing '/' is dropped) followed by the request target exactly as received
// (path and query, "/v1/receipts/sms-main?x=1").
std::string TwilioSignedUrl(std::string_view public_url, std::string_view request_target);

// base64(HMAC-SHA1(auth_token, full_url + name + value for every param)). The
// params are sorted by name (bytewise), the values of a repeated name sorted
// and each distinct one taken once, as Twilio's own libraries compute it.
std::string ComputeTwilioSignature(std::string_view auth_token, std::string_view full_url,
                                   const std::vector<FormField>& params);

// 401 when `signature_header` is empty or matches neither `full_url` nor the
// same URL with its default port added or removed (Twilio signs the URL as it
// was configured, and ":443" may or may not have been written there).
Result<Ok, ReceiptError> VerifyTwilioSignature(std::string_view auth_token,
                                               std::string_view full_url,
                                               const std::vector<FormField>& params,
                                               std::string_view signature_header);

// Parses a callback's decoded form without checking its signature (the
// caller has). One receipt, or none for a MessageStatus that is not about
// delivery (an inbound message's "received"); 400 when MessageSid or
// MessageStatus is missing or empty. `idempotency_token_header` becomes the
// receipt's dedup_key.
ReceiptResult ParseTwilioStatusFields(const std::vector<FormField>& params,
                                      std::string_view idempotency_token_header);

// Verifies and parses one status callback. `body` is the raw form body,
// `signature_header` the X-Twilio-Signature value, `idempotency_token_header`
// the I-Twilio-Idempotency-Token value (empty when absent; it becomes the
// receipt's dedup_key), `full_url` what TwilioSignedUrl returns. Yields one
// receipt, or none for a MessageStatus that is not about delivery (an
// inbound message's "received"). 401 for a missing or wrong signature or an
// empty auth token; 400 for a body that is not a form or lacks MessageSid or
// MessageStatus.
ReceiptResult ParseTwilioStatusCallback(std::string_view body, std::string_view signature_header,
                                        std::string_view idempotency_token_header,
                                        std::string_view full_url, std::string_view auth_token);

}  // namespace omnigate::providers
