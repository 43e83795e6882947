#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace omnigate {

// ASCII-only case mapping: protocol tokens (header names, schemes, host
// names) are ASCII, and the C library's tolower depends on the locale.
inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string AsciiLowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

inline bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// RFC 3986 percent-decoding; with `plus_is_space`, '+' is a space as HTML
// forms (application/x-www-form-urlencoded) encode it. nullopt when a '%'
// is not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

// RFC 4648 §4 base64 (standard alphabet, '=' padding), appended to `out`.
void AppendBase64(std::string_view in, std::string& out);
// Its inverse; nullopt for anything but canonical padded base64.
std::optional<std::string> DecodeBase64(std::string_view in);

}  // namespace omnigate
