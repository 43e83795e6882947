#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "providers/channel.h"
#include "providers/http_provider_config.h"
#include "providers/receipt.h"

namespace omnigate::providers {

// How a generic provider's delivery receipts read (generic_receipt.h): where
// the fields are in its webhook's body, what its status words mean, and how
// it signs. Parsed and checked by the config loader (`receipts:`).
struct GenericReceiptMapping {
  enum class Format : std::uint8_t { json, form };
  enum class Algorithm : std::uint8_t { hmac_sha256, hmac_sha1 };
  enum class Encoding : std::uint8_t { hex, base64 };

  // json: an object, or an array of objects (a batch); form:
  // application/x-www-form-urlencoded, one receipt.
  Format format = Format::json;
  // RFC 6901 pointers into each object for json, field names for form.
  std::string message_id;  // required
  std::string status;      // required
  std::string error_code;  // optional
  std::string event_id;    // optional: becomes Receipt::dedup_key
  // The provider's status words and ours, in config order. A word matches
  // exactly first, then ignoring ASCII case; an unmapped word is progress
  // (ReceiptStatus::sent) with its raw_status kept.
  std::vector<std::pair<std::string, ReceiptStatus>> statuses;
  // The signature: `signature_header` carries HMAC(secret, raw body) in
  // `encoding`. Without a header every receipt is refused (401) unless
  // allow_unsigned says the operator chose to take them unchecked.
  std::string signature_header;
  Algorithm algorithm = Algorithm::hmac_sha256;
  Encoding encoding = Encoding::hex;
  std::string secret;
  bool allow_unsigned = false;
};

// Any HTTP API described in config: for the many regional SMS and Viber
// aggregators that have no adapter of their own. url, header values and body
// are templates over the message (see generic_template.h).
struct GenericHttpConfig {
  Channel channel = Channel::sms;
  std::string method = "POST";  // GET, POST, PUT
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value template
  std::string body;
  // Success: the status is one of these, and, when set, the body check passes.
  std::vector<int> success_status = {200, 201, 202};
  std::string success_json_pointer;  // RFC 6901, e.g. /status
  std::string success_equals;        // value at the pointer, compared as text
  std::string success_regex;         // ECMAScript regex searched in the body
  // The provider's message id: from a header, a JSON pointer, or the first
  // capture group of a regex over the body (first one configured wins).
  std::string message_id_header;
  std::string message_id_json_pointer;
  std::string message_id_regex;
  // A non-success body matching this is the recipient's fault.
  std::string invalid_address_regex;
  // Set when the provider posts delivery receipts to /v1/receipts/{name}.
  std::optional<GenericReceiptMapping> receipts;
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
