#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// RFC 4648 §4 base64 (standard alphabet, '=' padding), appended to `out`.
void AppendBase64(std::string_view in, std::string& out);
// Its inverse; nullopt for anything but canonical padded base64.
std::optional<std::string> DecodeBase64(std::string_view in);

// RFC 3986 §2.1 percent-decoding; with `plus_is_space` a '+' is a space, as in
// application/x-www-form-urlencoded. nullopt when a '%' is not followed by two
// hex digits.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

// One decoded name=value pair of an application/x-www-form-urlencoded body.
using FormField = std::pair<std::string, std::string>;

// The pairs of a form body in their order (a name may repeat). Empty segments
// ("a=1&&b=2") are skipped; a segment without '=' has an empty value. nullopt
// on malformed percent-encoding in any name or value.
std::optional<std::vector<FormField>> DecodeForm(std::string_view body);

}  // namespace omnigate
