#include "common/json.h"

#include <cstddef>

namespace omnigate {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kHexDigits = "0123456789abcdef";

// Bytes that can be copied to a JSON string literal as they are: printable
// ASCII except the two characters RFC 8259 requires to be escaped. Everything
// at or above 0x80 goes through UTF-8 validation.
constexpr bool IsPlainAscii(unsigned char c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// Length of the well-formed UTF-8 sequence starting at text[i] (Unicode 15,
// table 3-7: no overlongs, no surrogates, nothing above U+10FFFF), or 0 when
// it is ill-formed. On 0, `*skip` is the length of the maximal ill-formed
// subpart, which is what one U+FFFD replaces (the W3C/WHATWG practice, so the
// output matches what browsers and Python show for the same bytes).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i, std::size_t* skip) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    *skip = 1;
    return 0;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= text.size()) {
      *skip = k;
      return 0;
    }
    const auto c = static_cast<unsigned char>(text[i + k]);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (c < min || c > max) {
      *skip = k;
      return 0;
    }
  }
  return length;
}

}  // namespace

void AppendJsonString(std::string_view text, std::string& out) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no attention in one append.
    std::size_t run = i;
    while (run < text.size() && IsPlainAscii(static_cast<unsigned char>(text[run]))) ++run;
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      if (i == text.size()) break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t skip = 0;
      const std::size_t length = Utf8SequenceLength(text, i, &skip);
      if (length > 0) {
        out.append(text.data() + i, length);
        i += length;
      } else {
        out += kReplacementCharacter;
        i += skip;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
        out.append(escape, sizeof(escape));
      }
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace omnigate
