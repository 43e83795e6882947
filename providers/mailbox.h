#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace omnigate::providers {

// A mailbox as written in a From field: `Name <addr>`, `"Quoted, Name" <addr>`
// or a bare `addr`.
struct Mailbox {
  std::string display_name;  // unquoted, unescaped; empty when absent
  std::string address;       // addr-spec
};

// nullopt when there is no address, the angle brackets do not match, or the
// text holds CR/LF (header injection).
std::optional<Mailbox> ParseMailbox(std::string_view text);

// Appends `<url>` for a List-Unsubscribe field (RFC 2369), which lists URLs
// in angle brackets separated by commas: '<', '>', ',', '"', space, controls
// and non-ASCII bytes inside the URL are percent-encoded, so that one URL can
// never close its brackets and add a target of its own.
void AppendListUnsubscribeTarget(std::string_view url, std::string& out);

}  // namespace omnigate::providers
