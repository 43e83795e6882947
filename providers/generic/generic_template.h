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
// for a URL component), form (application/x-www-form-urlencoded), none (the
// raw text: fine in a header, dangerous in a JSON body).
class MessageTemplate {
 public:
  static Result<MessageTemplate, std::string> Compile(std::string_view text);

  void Render(const OutboundMessage& message, std::string& out) const;
  std::string Render(const OutboundMessage& message) const {
    std::string out;
    Render(message, out);
    return out;
  }
  bool empty() const { return parts_.empty(); }

 private:
  enum class Field : std::uint8_t;
  enum class Filter : std::uint8_t { none, json, url, form };
  struct Part {
    std::string literal;  // used when is_field is false
    bool is_field = false;
    Field field{};
    Filter filter = Filter::none;
  };
  static std::string_view Value(const OutboundMessage& m, Field f, std::string& scratch);
  std::vector<Part> parts_;
};

}  // namespace omnigate::providers
