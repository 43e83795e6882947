#include "providers/sendgrid/sendgrid_receipt.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "common/text.h"
#include "providers/http_adapter.h"
#include "providers/openssl_util.h"

namespace omnigate::providers {
namespace {

struct MappedEvent {
  ReceiptStatus status;
  std::string_view suppress_reason;
};

// The one place SendGrid's event types become receipt statuses. nullopt for
// events that say nothing about delivery (group_resubscribe, new types).
std::optional<MappedEvent> MapEvent(std::string_view event, std::string_view bounce_type) {
  if (event == "processed" || event == "deferred") return MappedEvent{ReceiptStatus::sent, {}};
  if (event == "delivered") return MappedEvent{ReceiptStatus::delivered, {}};
  if (event == "bounce") {
    // A block is the receiving server refusing this message (content, IP
    // reputation), not the address: the next message may get through.
    if (bounce_type == "blocked") return MappedEvent{ReceiptStatus::undelivered, {}};
    return MappedEvent{ReceiptStatus::undelivered, kSuppressHardBounce};
  }
  if (event == "blocked") return MappedEvent{ReceiptStatus::undelivered, {}};
  if (event == "dropped") return MappedEvent{ReceiptStatus::failed, {}};
  if (event == "open") return MappedEvent{ReceiptStatus::opened, {}};
  if (event == "click") return MappedEvent{ReceiptStatus::clicked, {}};
  if (event == "spamreport") return MappedEvent{ReceiptStatus::complained, kSuppressSpamReport};
  if (event == "unsubscribe" || event == "group_unsubscribe") {
    return MappedEvent{ReceiptStatus::unsubscribed, kSuppressUnsubscribed};
  }
  return std::nullopt;
}

std::string_view StringField(simdjson::dom::object event, std::string_view name) {
  std::string_view value;
  if (event[name].get(value) != simdjson::SUCCESS) return {};
  return value;
}

// Unix seconds; 0 when absent or out of range.
std::int64_t TimestampMs(simdjson::dom::object event) {
  std::int64_t seconds = 0;
  if (event["timestamp"].get(seconds) != simdjson::SUCCESS) return 0;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 1000;
  if (seconds <= 0 || seconds > kMax) return 0;
  return seconds * 1000;
}

// Strictly decimal unix seconds, as SendGrid sends them.
std::optional<std::int64_t> ParseUnixSeconds(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// The key text without PEM armour and whitespace.
std::string KeyBase64(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.starts_with("-----")) continue;
    for (const char c : line) {
      if (c != ' ' && c != '\t' && c != '\r') out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void SendGridWebhookVerifier::PkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Result<SendGridWebhookVerifier, std::string> SendGridWebhookVerifier::FromPublicKey(
    std::string_view public_key) {
  constexpr std::string_view kHint =
      " (copy the Verification Key from SendGrid: Settings > Mail Settings > Event Webhook, "
      "Signature Verification)";
  const std::string text = KeyBase64(public_key);
  if (text.empty()) return MakeUnexpected("webhook_public_key is empty" + std::string(kHint));
  const auto der = DecodeBase64(text);
  if (!der) return MakeUnexpected("webhook_public_key is not base64" + std::string(kHint));
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  PkeyPtr key(
      d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));  // NOLINT(google-runtime-int)
  if (!key || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
    detail::OpenSslError("d2i_PUBKEY");  // empties the error queue
    return MakeUnexpected("webhook_public_key is not a DER SubjectPublicKeyInfo" +
                          std::string(kHint));
  }
  std::array<char, 64> group{};
  std::size_t group_length = 0;
  if (EVP_PKEY_is_a(key.get(), "EC") != 1 ||
      EVP_PKEY_get_group_name(key.get(), group.data(), group.size(), &group_length) != 1 ||
      std::string_view(group.data(), group_length) != "prime256v1") {
    detail::OpenSslError("EVP_PKEY_get_group_name");
    return MakeUnexpected("webhook_public_key is not an ECDSA P-256 key" + std::string(kHint));
  }
  return SendGridWebhookVerifier(std::move(key));
}

Result<Ok, ReceiptError> SendGridWebhookVerifier::Verify(std::string_view body,
                                                         std::string_view signature_header,
                                                         std::string_view timestamp_header,
                                                         std::chrono::system_clock::time_point now,
                                                         std::chrono::seconds replay_window) const {
  if (signature_header.empty()) {
    return Unauthorized("missing X-Twilio-Email-Event-Webhook-Signature header");
  }
  if (timestamp_header.empty()) {
    return Unauthorized("missing X-Twilio-Email-Event-Webhook-Timestamp header");
  }
  const auto timestamp = ParseUnixSeconds(timestamp_header);
  if (!timestamp) {
    return Unauthorized("X-Twilio-Email-Event-Webhook-Timestamp is not unix seconds");
  }
  // Checked before the signature: a replayed request costs no ECDSA verify.
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t skew = *timestamp > now_s ? *timestamp - now_s : now_s - *timestamp;
  if (skew > replay_window.count()) {
    return Unauthorized("X-Twilio-Email-Event-Webhook-Timestamp is " + std::to_string(skew) +
                        " s from our clock, outside the replay window of " +
                        std::to_string(replay_window.count()) + " s");
  }
  const auto signature = DecodeBase64(signature_header);
  if (!signature || signature->empty()) {
    return Unauthorized("X-Twilio-Email-Event-Webhook-Signature is not base64");
  }
  const detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  int verdict = -1;
  if (ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestVerifyUpdate(ctx.get(), timestamp_header.data(), timestamp_header.size()) == 1 &&
      EVP_DigestVerifyUpdate(ctx.get(), body.data(), body.size()) == 1) {
    verdict = EVP_DigestVerifyFinal(
        ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size());
  }
  if (verdict == 1) return Ok{};
  detail::OpenSslError("EVP_DigestVerifyFinal");  // a malformed DER leaves errors queued
  return Unauthorized(
      "X-Twilio-Email-Event-Webhook-Signature does not verify: check webhook_public_key against "
      "SendGrid's Event Webhook settings");
}

ReceiptResult ParseSendGridEvents(std::string_view body) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Malformed("body is not JSON");
  }
  simdjson::dom::array events;
  if (doc.get(events) != simdjson::SUCCESS) return Malformed("body is not a JSON array of events");
  std::vector<Receipt> receipts;
  receipts.reserve(events.size());
  std::size_t index = 0;
  for (const simdjson::dom::element e : events) {
    const std::string where = "event [" + std::to_string(index++) + "]";
    simdjson::dom::object event;
    if (e.get(event) != simdjson::SUCCESS) return Malformed(where + " is not an object");
    std::string_view type;
    if (event["event"].get(type) != simdjson::SUCCESS || type.empty()) {
      return Malformed(where + " has no \"event\" string");
    }
    const auto mapped = MapEvent(type, StringField(event, "type"));
    if (!mapped) continue;
    Receipt& r = receipts.emplace_back();
    // "<X-Message-Id>.filter…": the send recorded the X-Message-Id alone.
    const std::string_view message_id = StringField(event, "sg_message_id");
    r.provider_message_id = std::string(message_id.substr(0, message_id.find('.')));
    r.request_id = StringField(event, "omnigate_id");
    r.status = mapped->status;
    r.raw_status = type;
    r.suppress_reason = mapped->suppress_reason;
    // Why it did not (yet) arrive: the SMTP status ("5.1.1") when there is
    // one, else SendGrid's text. A delivery's "250 OK" response is no error.
    if (r.status == ReceiptStatus::undelivered || r.status == ReceiptStatus::failed ||
        type == "deferred") {
      for (const std::string_view field : {"status", "reason", "response"}) {
        if (const std::string_view v = StringField(event, field); !v.empty()) {
          r.error_code = v;
          break;
        }
      }
    }
    r.dedup_key = StringField(event, "sg_event_id");
    r.timestamp_ms = TimestampMs(event);
    r.address = StringField(event, "email");
  }
  return receipts;
}

ReceiptResult ParseSendGridEventWebhook(const SendGridWebhookVerifier& verifier,
                                        std::string_view body, std::string_view signature_header,
                                        std::string_view timestamp_header,
                                        std::chrono::system_clock::time_point now,
                                        std::chrono::seconds replay_window) {
  if (auto verified = verifier.Verify(body, signature_header, timestamp_header, now, replay_window);
      !verified) {
    return MakeUnexpected(verified.error());
  }
  return ParseSendGridEvents(body);
}

}  // namespace omnigate::providers
