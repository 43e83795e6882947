#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "providers/provider.h"

namespace omnigate::providers {

// A compiled template: text with {{field}} or {{field|filter}} placeholders.
//
// Fields: id, tenant, channel, attempt, to, text, sender, from, subject, html,
// unsubscribe_url, image_url, button_caption, button_url.
// Filters: json (a JSON string literal, quotes included), url (percent-encoded
// for a URL component), form (application/x-www-form-urlencoded), none or raw
// (the raw text: fine in a header, dangerous in a JSON body).
//
// A URL template (CompileUrl) percent-encodes every field by default, since a
// raw value could rewrite the URL: "../../admin/purge?all=1#" in an id would
// reach another path of the provider, a NUL would cut the URL short. `url` and
// `form` are accepted; the raw text only by the explicit `{{field|raw}}`,
// which check-config reports as a warning; `json` and `none` are refused.
class MessageTemplate {
 public:
  static Result<MessageTemplate, std::string> Compile(std::string_view text);
  static Result<MessageTemplate, std::string> CompileUrl(std::string_view text);

  void Render(const OutboundMessage& message, std::string& out) const;
  std::string Render(const OutboundMessage& message) const {
    std::string out;
    Render(message, out);
    return out;
  }
  bool empty() const { return parts_.empty(); }
  // Names of the fields put in raw ({{field|raw}}, {{field|none}}, {{field}}
  // outside URLs), in order of appearance.
  std::vector<std::string> raw_fields() const;
  // Whether a field is placed before the end of the URL's authority (the
  // first '/', '?' or '#' after "scheme://"), where it could choose the host.
  bool field_in_authority() const { return field_in_authority_; }

 private:
  enum class Field : std::uint8_t;
  enum class Filter : std::uint8_t { none, json, url, form };
  static Result<MessageTemplate, std::string> CompileAs(std::string_view text, bool url);
  struct Part {
    std::string literal;  // used when is_field is false
    bool is_field = false;
    Field field{};
    Filter filter = Filter::none;
  };
  static std::string_view Value(const OutboundMessage& m, Field f, std::string& scratch);
  std::vector<Part> parts_;
  bool field_in_authority_ = false;
};

}  // namespace omnigate::providers
