#include "providers/viber/viber_receipt.h"

#include <cstdint>
#include <optional>

#include "common/text.h"
#include "providers/http_adapter.h"
#include "providers/openssl_util.h"

namespace omnigate::providers {
namespace {

struct MappedEvent {
  ReceiptStatus status;
  std::string_view suppress_reason;
};

// The one place Viber's callback events become receipt statuses. nullopt for
// the events that are not receipts: subscribed, conversation_started,
// webhook, message, and any Viber adds.
std::optional<MappedEvent> MapEvent(std::string_view event) {
  if (event == "delivered") return MappedEvent{ReceiptStatus::delivered, {}};
  if (event == "seen") return MappedEvent{ReceiptStatus::read, {}};
  if (event == "failed") return MappedEvent{ReceiptStatus::failed, {}};
  if (event == "unsubscribed") {
    return MappedEvent{ReceiptStatus::unsubscribed, kSuppressUnsubscribed};
  }
  return std::nullopt;
}

// message_token is a 64-bit integer; its decimal text is what the send
// recorded (viber_provider.cc).
std::optional<std::string> MessageToken(simdjson::dom::object callback) {
  std::uint64_t token = 0;
  std::int64_t signed_token = 0;
  if (callback["message_token"].get(token) == simdjson::SUCCESS) return std::to_string(token);
  if (callback["message_token"].get(signed_token) == simdjson::SUCCESS) {
    return std::to_string(signed_token);
  }
  return std::nullopt;
}

std::string_view StringField(simdjson::dom::object callback, std::string_view name) {
  std::string_view value;
  if (callback[name].get(value) != simdjson::SUCCESS) return {};
  return value;
}

}  // namespace

std::string ComputeViberSignature(std::string_view auth_token, std::string_view body) {
  return detail::HexLower(detail::HmacSha256(auth_token, body));
}

Result<Ok, ReceiptError> VerifyViberSignature(std::string_view auth_token, std::string_view body,
                                              std::string_view signature_header) {
  if (auth_token.empty()) {
    return Unauthorized(
        "no Viber auth_token configured for this provider; receipts cannot be "
        "verified");
  }
  if (signature_header.empty()) return Unauthorized("missing X-Viber-Content-Signature header");
  if (!ConstantTimeEquals(AsciiLowercase(signature_header),
                          ComputeViberSignature(auth_token, body))) {
    return Unauthorized(
        "X-Viber-Content-Signature does not match: check the provider's auth_token");
  }
  return Ok{};
}

ReceiptResult ParseViberCallbackBody(std::string_view body) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Malformed("body is not JSON");
  }
  simdjson::dom::object callback;
  if (doc.get(callback) != simdjson::SUCCESS) return Malformed("body is not a JSON object");
  std::string_view event;
  if (callback["event"].get(event) != simdjson::SUCCESS || event.empty()) {
    return Malformed("no \"event\" string");
  }
  std::vector<Receipt> receipts;
  const auto mapped = MapEvent(event);
  if (!mapped) return receipts;

  Receipt r;
  r.status = mapped->status;
  r.raw_status = event;
  r.suppress_reason = mapped->suppress_reason;
  r.address = StringField(callback, "user_id");
  if (mapped->status == ReceiptStatus::unsubscribed) {
    // About the user, not a message: a message_token here names the callback.
    if (r.address.empty()) return Malformed("unsubscribed without a \"user_id\" string");
  } else {
    auto token = MessageToken(callback);
    if (!token) return Malformed("\"message_token\" is missing or not an integer");
    r.provider_message_id = *std::move(token);
  }
  if (mapped->status == ReceiptStatus::failed) r.error_code = StringField(callback, "desc");
  std::int64_t timestamp = 0;
  if (callback["timestamp"].get(timestamp) == simdjson::SUCCESS && timestamp > 0) {
    r.timestamp_ms = timestamp;
  }
  receipts.push_back(std::move(r));
  return receipts;
}

ReceiptResult ParseViberCallback(std::string_view body, std::string_view signature_header,
                                 std::string_view auth_token) {
  if (auto verified = VerifyViberSignature(auth_token, body, signature_header); !verified) {
    return MakeUnexpected(verified.error());
  }
  return ParseViberCallbackBody(body);
}

}  // namespace omnigate::providers
