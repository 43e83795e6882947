#pragma once

#include <cstdint>
#include <string_view>

namespace omnigate::providers {

enum class SmsEncoding : std::uint8_t { gsm7, ucs2 };

struct SmsSegmentInfo {
  SmsEncoding encoding = SmsEncoding::gsm7;
  // Septets for GSM-7 (extension characters count two), UTF-16 code units
  // for UCS-2.
  int units = 0;
  // Billable parts: one part holds 160 septets / 70 units; a concatenated
  // message loses 7 septets / 3 units per part to the UDH (153 / 67).
  int segments = 0;
};

// Counts what a carrier bills for `utf8` (3GPP TS 23.038 default alphabet and
// its extension table, else UCS-2). Escapes and surrogate pairs are never
// split across parts, as handsets and SMSCs do. Invalid UTF-8 bytes count as
// one UCS-2 unit each. Empty text is one segment.
SmsSegmentInfo CountSmsSegments(std::string_view utf8);

}  // namespace omnigate::providers
