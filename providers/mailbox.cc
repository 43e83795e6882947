#include "providers/mailbox.h"

namespace omnigate::providers {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool PlausibleAddress(std::string_view a) {
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  for (const char c : a) {
    if (c == ' ' || c == '<' || c == '>' || c == ',' || c == '"') return false;
  }
  return true;
}

}  // namespace

std::optional<Mailbox> ParseMailbox(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  text = Trim(text);
  Mailbox m;
  const auto open = text.rfind('<');
  if (open == std::string_view::npos) {
    if (!PlausibleAddress(text)) return std::nullopt;
    m.address = std::string(text);
    return m;
  }
  if (text.back() != '>') return std::nullopt;
  m.address = std::string(Trim(text.substr(open + 1, text.size() - open - 2)));
  if (!PlausibleAddress(m.address)) return std::nullopt;
  std::string_view name = Trim(text.substr(0, open));
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (name[i] == '\\' && i + 1 < name.size()) ++i;
      m.display_name.push_back(name[i]);
    }
  } else {
    m.display_name = std::string(name);
  }
  return m;
}

void AppendListUnsubscribeTarget(std::string_view url, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('<');
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>' || c == ',' || c == '"') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('>');
}

}  // namespace omnigate::providers
