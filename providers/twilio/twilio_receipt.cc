#include "providers/twilio/twilio_receipt.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "providers/openssl_util.h"

namespace omnigate::providers {
namespace {

// The one place Twilio's MessageStatus values become receipt statuses.
std::optional<ReceiptStatus> MapStatus(std::string_view s) {
  if (s == "queued" || s == "accepted" || s == "scheduled" || s == "sending" || s == "sent") {
    return ReceiptStatus::sent;
  }
  if (s == "delivered") return ReceiptStatus::delivered;
  if (s == "read") return ReceiptStatus::read;  // WhatsApp and RCS only
  if (s == "undelivered") return ReceiptStatus::undelivered;
  if (s == "failed" || s == "canceled") return ReceiptStatus::failed;
  return std::nullopt;  // "receiving"/"received" describe inbound messages
}

// `url` with its default port added when it has none, or with its port
// removed when it has one; the URL itself when it has no scheme://.
std::string TogglePort(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const std::size_t authority_begin = scheme_end + 3;
  const std::size_t authority_end = std::min(url.find_first_of("/?#", authority_begin), url.size());
  const std::string_view authority = url.substr(authority_begin, authority_end - authority_begin);
  // Userinfo before '@'; a ':' inside an IPv6 literal's brackets is no port.
  const std::size_t host_begin =
      authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1;
  const std::size_t bracket = authority.rfind(']');
  const std::size_t colon = authority.find(
      ':', bracket == std::string_view::npos || bracket < host_begin ? host_begin : bracket);
  std::string out(url.substr(0, authority_begin));
  if (colon != std::string_view::npos) {
    out.append(authority.substr(0, colon));
  } else {
    out.append(authority);
    out.append(EqualsIgnoreAsciiCase(url.substr(0, scheme_end), "https") ? ":443" : ":80");
  }
  out.append(url.substr(authority_end));
  return out;
}

const std::string* Find(const std::vector<FormField>& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

}  // namespace

std::string TwilioSignedUrl(std::string_view public_url, std::string_view request_target) {
  while (!public_url.empty() && public_url.back() == '/') public_url.remove_suffix(1);
  std::string url(public_url);
  if (!request_target.empty() && request_target.front() != '/') url.push_back('/');
  url.append(request_target);
  return url;
}

std::string ComputeTwilioSignature(std::string_view auth_token, std::string_view full_url,
                                   const std::vector<FormField>& params) {
  std::vector<const FormField*> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const FormField* a, const FormField* b) {
    return *a < *b;  // by name, then by value
  });
  sorted.erase(std::unique(sorted.begin(), sorted.end(),
                           [](const FormField* a, const FormField* b) { return *a == *b; }),
               sorted.end());
  std::string data(full_url);
  for (const FormField* p : sorted) {
    data += p->first;
    data += p->second;
  }
  std::string out;
  AppendBase64(detail::HmacSha1(auth_token, data), out);
  return out;
}

Result<Ok, ReceiptError> VerifyTwilioSignature(std::string_view auth_token,
                                               std::string_view full_url,
                                               const std::vector<FormField>& params,
                                               std::string_view signature_header) {
  if (auth_token.empty()) {
    return Unauthorized(
        "no Twilio auth_token configured for this provider; receipts cannot be "
        "verified");
  }
  if (signature_header.empty()) return Unauthorized("missing X-Twilio-Signature header");
  if (ConstantTimeEquals(signature_header, ComputeTwilioSignature(auth_token, full_url, params)) ||
      ConstantTimeEquals(signature_header,
                         ComputeTwilioSignature(auth_token, TogglePort(full_url), params))) {
    return Ok{};
  }
  return Unauthorized(
      "X-Twilio-Signature does not match: check the provider's auth_token and that the public URL "
      "is the one in status_callback");
}

ReceiptResult ParseTwilioStatusCallback(std::string_view body, std::string_view signature_header,
                                        std::string_view idempotency_token_header,
                                        std::string_view full_url, std::string_view auth_token) {
  if (signature_header.empty()) return Unauthorized("missing X-Twilio-Signature header");
  auto params = DecodeForm(body);
  if (!params) {
    return Malformed("body is not application/x-www-form-urlencoded: a '%' without two hex digits");
  }
  if (auto verified = VerifyTwilioSignature(auth_token, full_url, *params, signature_header);
      !verified) {
    return MakeUnexpected(verified.error());
  }
  return ParseTwilioStatusFields(*params, idempotency_token_header);
}

ReceiptResult ParseTwilioStatusFields(const std::vector<FormField>& params,
                                      std::string_view idempotency_token_header) {
  const std::string* sid = Find(params, "MessageSid");
  if (sid == nullptr || sid->empty()) return Malformed("MessageSid is missing or empty");
  const std::string* status = Find(params, "MessageStatus");
  if (status == nullptr || status->empty()) return Malformed("MessageStatus is missing or empty");

  std::vector<Receipt> receipts;
  const auto mapped = MapStatus(*status);
  if (!mapped) return receipts;
  Receipt& r = receipts.emplace_back();
  r.provider_message_id = *sid;
  r.status = *mapped;
  r.raw_status = *status;
  if (const std::string* code = Find(params, "ErrorCode"); code != nullptr) r.error_code = *code;
  if (r.error_code == kTwilioErrorUnsubscribed) r.suppress_reason = kSuppressSmsStop;
  if (const std::string* to = Find(params, "To"); to != nullptr) r.address = *to;
  r.dedup_key = idempotency_token_header;
  return receipts;
}

}  // namespace omnigate::providers
