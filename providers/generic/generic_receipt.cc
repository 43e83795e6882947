#include "providers/generic/generic_receipt.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "providers/http_adapter.h"
#include "providers/openssl_util.h"

namespace omnigate::providers {
namespace {

using Mapping = GenericReceiptMapping;

// One configured field of one receipt: its text, or why it has none.
struct FieldText {
  std::optional<std::string> text;  // nullopt: absent (or JSON null)
  bool wrong_type = false;          // an object, array or boolean
};

// A string as it is, a number in its JSON spelling: the same text the send
// recorded when the provider answered with a numeric id (generic_provider.cc
// reads its response the same way).
FieldText JsonText(simdjson::dom::element item, const std::string& pointer) {
  simdjson::dom::element v;
  if (item.at_pointer(pointer).get(v) != simdjson::SUCCESS || v.is_null()) return {};
  std::string_view s;
  if (v.get(s) == simdjson::SUCCESS) return {std::string(s)};
  if (v.is_number()) return {simdjson::minify(v)};
  return {std::nullopt, true};
}

FieldText FormText(const std::vector<FormField>& fields, const std::string& name) {
  for (const auto& [key, value] : fields) {
    if (key == name) return {value};
  }
  return {};
}

// The one place a provider's status word becomes ours: the word as
// configured first, so that "READ" and "read" may mean different things,
// then ignoring case, since aggregators are not consistent about it.
const std::pair<std::string, ReceiptStatus>* MapStatus(const Mapping& m, std::string_view word) {
  for (const auto& entry : m.statuses) {
    if (entry.first == word) return &entry;
  }
  for (const auto& entry : m.statuses) {
    if (EqualsIgnoreAsciiCase(entry.first, word)) return &entry;
  }
  return nullptr;
}

// One receipt from `text_at` (a configured pointer or field name -> its
// text). `where` prefixes the errors: the element of a batch, or nothing.
template <typename TextAt>
Result<Receipt, std::string> BuildReceipt(const Mapping& m, const std::string& where,
                                          TextAt&& text_at) {
  auto field = [&](const std::string& key, bool required,
                   std::string& out) -> std::optional<std::string> {
    if (key.empty()) return std::nullopt;
    FieldText f = text_at(key);
    if (f.wrong_type) return where + key + " is neither a string nor a number";
    if (required && (!f.text || f.text->empty())) return where + key + " is missing or empty";
    if (f.text) out = *std::move(f.text);
    return std::nullopt;
  };
  Receipt r;
  for (auto problem :
       {field(m.message_id, true, r.provider_message_id), field(m.status, true, r.raw_status),
        field(m.error_code, false, r.error_code), field(m.event_id, false, r.dedup_key)}) {
    if (problem) return MakeUnexpected(*std::move(problem));
  }
  // Unmapped words stay progress: the gateway acknowledges and ignores
  // them, and raw_status says what the provider meant.
  if (const auto* mapped = MapStatus(m, r.raw_status)) {
    r.status = mapped->second;
    if (r.status == ReceiptStatus::unsubscribed) r.suppress_reason = kSuppressUnsubscribed;
    if (r.status == ReceiptStatus::complained) r.suppress_reason = kSuppressSpamReport;
  }
  return r;
}

ReceiptResult ParseJson(const Mapping& m, std::string_view body) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return Malformed("body is not JSON");
  }
  std::vector<Receipt> receipts;
  auto add = [&](simdjson::dom::element item,
                 const std::string& where) -> std::optional<std::string> {
    auto r = BuildReceipt(m, where, [&](const std::string& p) { return JsonText(item, p); });
    if (!r) return std::move(r.error());
    receipts.push_back(std::move(r).value());
    return std::nullopt;
  };
  if (doc.is_object()) {
    if (auto problem = add(doc, "")) return Malformed(*std::move(problem));
    return receipts;
  }
  simdjson::dom::array batch;
  if (doc.get(batch) != simdjson::SUCCESS) {
    return Malformed("body is neither a JSON object nor an array of objects");
  }
  std::size_t i = 0;
  for (const simdjson::dom::element item : batch) {
    const std::string where = "[" + std::to_string(i++) + "]";
    if (!item.is_object()) return Malformed(where + " is not a JSON object");
    if (auto problem = add(item, where)) return Malformed(*std::move(problem));
  }
  return receipts;
}

ReceiptResult ParseForm(const Mapping& m, std::string_view body) {
  const auto fields = DecodeForm(body);
  if (!fields) {
    return Malformed("body is not application/x-www-form-urlencoded: a '%' without two hex digits");
  }
  auto r = BuildReceipt(m, "", [&](const std::string& name) { return FormText(*fields, name); });
  if (!r) return Malformed(std::move(r.error()));
  std::vector<Receipt> receipts;
  receipts.push_back(std::move(r).value());
  return receipts;
}

}  // namespace

std::string ComputeGenericReceiptSignature(const GenericReceiptMapping& m,
                                           std::string_view body) {
  const std::string mac = m.algorithm == Mapping::Algorithm::hmac_sha1
                              ? detail::HmacSha1(m.secret, body)
                              : detail::HmacSha256(m.secret, body);
  if (m.encoding == Mapping::Encoding::hex) return detail::HexLower(mac);
  std::string out;
  AppendBase64(mac, out);
  return out;
}

Result<Ok, ReceiptError> VerifyGenericReceiptSignature(const GenericReceiptMapping& m,
                                                       std::string_view body,
                                                       std::string_view signature_header) {
  if (m.signature_header.empty()) {
    if (m.allow_unsigned) return Ok{};
    return Unauthorized(
        "no receipts.signature configured for this provider; receipts cannot be verified");
  }
  if (m.secret.empty()) {
    return Unauthorized(
        "no receipts.signature.secret configured for this provider; receipts cannot be "
        "verified");
  }
  if (signature_header.empty()) return Unauthorized("missing " + m.signature_header + " header");
  // Hex digits in either case; base64 is case-sensitive: compared as sent.
  const std::string expected = ComputeGenericReceiptSignature(m, body);
  const bool match = m.encoding == Mapping::Encoding::hex
                         ? ConstantTimeEquals(AsciiLowercase(signature_header), expected)
                         : ConstantTimeEquals(signature_header, expected);
  if (!match) {
    return Unauthorized(m.signature_header +
                        " does not match: check the provider's receipts.signature secret, "
                        "algorithm and encoding");
  }
  return Ok{};
}

ReceiptResult ParseGenericReceiptBody(const GenericReceiptMapping& m, std::string_view body) {
  return m.format == Mapping::Format::form ? ParseForm(m, body) : ParseJson(m, body);
}

ReceiptResult ParseGenericReceipt(const GenericReceiptMapping& m, std::string_view body,
                                  std::string_view signature_header) {
  if (auto verified = VerifyGenericReceiptSignature(m, body, signature_header); !verified) {
    return MakeUnexpected(verified.error());
  }
  return ParseGenericReceiptBody(m, body);
}

}  // namespace omnigate::providers
