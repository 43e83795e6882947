#pragma once
// Viber's webhook callbacks (delivered, seen, failed, unsubscribed, and the
// chat events a bot also receives): a JSON object signed with
// X-Viber-Content-Signature = hex(HMAC-SHA256(bot auth token, raw body)).
// Stateless functions; any thread.

#include <string>
#include <string_view>

#include "common/result.h"
#include "providers/receipt.h"

namespace omnigate::providers {

inline constexpr std::string_view kViberSignatureHeader = "X-Viber-Content-Signature";

// Lower-case hex HMAC-SHA256 of `body` keyed with the bot's auth token.
std::string ComputeViberSignature(std::string_view auth_token, std::string_view body);

// 401 when `signature_header` is empty or is not the body's signature (hex
// digits compared case-insensitively), or when no auth token is configured.
Result<Ok, ReceiptError> VerifyViberSignature(std::string_view auth_token, std::string_view body,
                                              std::string_view signature_header);

// Parses one callback without checking its signature (the caller has). The
// receipt events yield one receipt; subscribed, conversation_started,
// webhook, message and unknown events yield none (they are acknowledged, not
// recorded). 400 for a body that is not a JSON object with an "event"
// string, or a receipt event without a numeric message_token.
ReceiptResult ParseViberCallbackBody(std::string_view body);

// VerifyViberSignature, then ParseViberCallbackBody.
ReceiptResult ParseViberCallback(std::string_view body, std::string_view signature_header,
                                 std::string_view auth_token);

}  // namespace omnigate::providers
