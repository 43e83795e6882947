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

}  // namespace omnigate::providers
