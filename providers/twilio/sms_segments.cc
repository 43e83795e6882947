#include "providers/twilio/sms_segments.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace omnigate::providers {
namespace {

// The GSM 03.38 default alphabet, as Unicode code points (index = GSM code).
// 0x1B is the escape to the extension table and is not a character.
constexpr std::array<char32_t, 128> kGsmBasic = {
    U'@',    U'£',    U'$',    U'¥',    U'è',    U'é',    U'ù',    U'ì',    U'ò',    U'Ç',
    U'\n',   U'Ø',    U'ø',    U'\r',   U'Å',    U'å',    U'Δ',    U'_',    U'Φ',    U'Γ',
    U'Λ',    U'Ω',    U'Π',    U'Ψ',    U'Σ',    U'Θ',    U'Ξ',    0xFFFF,  U'Æ',    U'æ',
    U'ß',    U'É',    U' ',    U'!',    U'"',    U'#',    U'¤',    U'%',    U'&',    U'\'',
    U'(',    U')',    U'*',    U'+',    U',',    U'-',    U'.',    U'/',    U'0',    U'1',
    U'2',    U'3',    U'4',    U'5',    U'6',    U'7',    U'8',    U'9',    U':',    U';',
    U'<',    U'=',    U'>',    U'?',    U'¡',    U'A',    U'B',    U'C',    U'D',    U'E',
    U'F',    U'G',    U'H',    U'I',    U'J',    U'K',    U'L',    U'M',    U'N',    U'O',
    U'P',    U'Q',    U'R',    U'S',    U'T',    U'U',    U'V',    U'W',    U'X',    U'Y',
    U'Z',    U'Ä',    U'Ö',    U'Ñ',    U'Ü',    U'§',    U'¿',    U'a',    U'b',    U'c',
    U'd',    U'e',    U'f',    U'g',    U'h',    U'i',    U'j',    U'k',    U'l',    U'm',
    U'n',    U'o',    U'p',    U'q',    U'r',    U's',    U't',    U'u',    U'v',    U'w',
    U'x',    U'y',    U'z',    U'ä',    U'ö',    U'ñ',    U'ü',    U'à'};

// Characters reached through the escape: each costs two septets.
constexpr std::array<char32_t, 10> kGsmExtension = {U'\f', U'^', U'{', U'}',  U'\\',
                                                    U'[',  U'~', U']', U'|', U'€'};

// 0 = not in GSM-7, 1 = basic, 2 = extension.
constexpr int GsmCostSlow(char32_t c) {
  for (const char32_t g : kGsmBasic) {
    if (g == c) return 1;
  }
  for (const char32_t g : kGsmExtension) {
    if (g == c) return 2;
  }
  return 0;
}

// Nearly every character of nearly every SMS is ASCII: one table lookup.
constexpr std::array<std::uint8_t, 128> kAsciiCost = [] {
  std::array<std::uint8_t, 128> t{};
  for (char32_t c = 0; c < 128; ++c) t[c] = static_cast<std::uint8_t>(GsmCostSlow(c));
  return t;
}();

int GsmCost(char32_t c) {
  if (c < 128) return kAsciiCost[c];
  if (std::find(kGsmBasic.begin(), kGsmBasic.end(), c) != kGsmBasic.end()) return 1;
  if (std::find(kGsmExtension.begin(), kGsmExtension.end(), c) != kGsmExtension.end()) return 2;
  return 0;
}

// Decodes one code point; on invalid input consumes one byte and returns
// U+FFFD.
char32_t NextCodePoint(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) -> int {
    if (i + k >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
  };
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const int c = cont(static_cast<std::size_t>(k));
    if (c < 0) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | static_cast<char32_t>(c);
  }
  i += static_cast<std::size_t>(len);
  return cp;
}

// UTF-16 code units of a code point: UCS-2 messages carry astral
// characters as surrogate pairs.
int Utf16Units(char32_t cp) { return cp > 0xFFFF ? 2 : 1; }

// Packs the text's characters, each `size(cp)` long, into parts of `multi`
// capacity without splitting a character (a concatenated message's parts
// lose room to the UDH). A second walk over the text instead of a vector of
// sizes: this runs once per SMS on the hot path.
template <typename Size>
int PackParts(std::string_view utf8, int multi, Size size) {
  int parts = 1;
  int used = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const int sz = size(NextCodePoint(utf8, i));
    if (used + sz > multi) {
      ++parts;
      used = 0;
    }
    used += sz;
  }
  return parts;
}

}  // namespace

SmsSegmentInfo CountSmsSegments(std::string_view utf8) {
  bool gsm = true;
  int septets = 0;
  int units = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const char32_t cp = NextCodePoint(utf8, i);
    units += Utf16Units(cp);
    if (gsm) {
      const int cost = GsmCost(cp);
      if (cost == 0) {
        gsm = false;
      } else {
        septets += cost;
      }
    }
  }
  if (gsm) {
    const int parts = septets <= 160 ? 1 : PackParts(utf8, 153, GsmCost);
    return {SmsEncoding::gsm7, septets, parts};
  }
  const int parts = units <= 70 ? 1 : PackParts(utf8, 67, Utf16Units);
  return {SmsEncoding::ucs2, units, parts};
}

}  // namespace omnigate::providers
