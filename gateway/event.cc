#include "gateway/event.h"

#include <array>
#include <charconv>
#include <cstddef>

namespace omnigate::gateway {
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

template <typename Int>
void AppendInt(Int value, std::string& out) {
  std::array<char, 24> buf;
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 24 bytes hold any 64-bit integer.
  out.append(buf.data(), static_cast<std::size_t>(end - buf.data()));
}

// Zero-padded decimal of exactly `width` digits (values are pre-range-checked).
void AppendPadded(unsigned value, int width, std::string& out) {
  std::array<char, 10> buf;
  for (int i = width - 1; i >= 0; --i) {
    buf[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf.data(), static_cast<std::size_t>(width));
}

void AppendNullableString(std::string_view text, std::string& out) {
  if (text.empty()) {
    out += "null";
  } else {
    AppendJsonString(text, out);
  }
}

}  // namespace

std::string_view ToString(EventStatus s) {
  switch (s) {
    case EventStatus::accepted:
      return "accepted";
    case EventStatus::scheduled:
      return "scheduled";
    case EventStatus::deferred:
      return "deferred";
    case EventStatus::sent:
      return "sent";
    case EventStatus::delivered:
      return "delivered";
    case EventStatus::read:
      return "read";
    case EventStatus::retrying:
      return "retrying";
    case EventStatus::fallback:
      return "fallback";
    case EventStatus::duplicate:
      return "duplicate";
    case EventStatus::suppressed:
      return "suppressed";
    case EventStatus::rejected:
      return "rejected";
    case EventStatus::failed:
      return "failed";
    case EventStatus::expired:
      return "expired";
  }
  return "unknown";
}

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

void AppendTimestamp(std::chrono::system_clock::time_point ts, std::string& out) {
  using namespace std::chrono;
  // floor, not duration_cast: truncation must go towards the past for
  // instants before 1970 too, or the date and the millis disagree.
  const auto ms = floor<milliseconds>(ts);
  const auto midnight = floor<days>(ms);
  // A nanosecond system_clock spans years 1677..2262, so four digits always fit.
  const year_month_day ymd{midnight};
  const hh_mm_ss<milliseconds> time{ms - midnight};
  AppendPadded(static_cast<unsigned>(static_cast<int>(ymd.year())), 4, out);
  out.push_back('-');
  AppendPadded(static_cast<unsigned>(ymd.month()), 2, out);
  out.push_back('-');
  AppendPadded(static_cast<unsigned>(ymd.day()), 2, out);
  out.push_back('T');
  AppendPadded(static_cast<unsigned>(time.hours().count()), 2, out);
  out.push_back(':');
  AppendPadded(static_cast<unsigned>(time.minutes().count()), 2, out);
  out.push_back(':');
  AppendPadded(static_cast<unsigned>(time.seconds().count()), 2, out);
  out.push_back('.');
  AppendPadded(static_cast<unsigned>(time.subseconds().count()), 3, out);
  out.push_back('Z');
}

void AppendEventJson(const Event& event, std::string& out) {
  out += "{\"id\":";
  AppendJsonString(event.id, out);
  out += ",\"tenant\":";
  AppendJsonString(event.tenant, out);
  out += ",\"seq\":";
  AppendInt(event.seq, out);
  out += ",\"status\":\"";
  out += ToString(event.status);
  out += "\",\"final\":";
  out += event.final ? "true" : "false";
  out += ",\"channel\":";
  AppendNullableString(event.channel, out);
  out += ",\"provider\":";
  AppendNullableString(event.provider, out);
  out += ",\"provider_message_id\":";
  AppendNullableString(event.provider_message_id, out);
  out += ",\"attempt\":";
  AppendInt(event.attempt, out);
  out += ",\"reason\":";
  AppendNullableString(event.reason, out);
  out += ",\"campaign\":";
  AppendNullableString(event.campaign, out);
  out += ",\"ts\":\"";
  AppendTimestamp(event.ts, out);
  out.push_back('"');
  if (event.segments > 0) {
    out += ",\"segments\":";
    AppendInt(event.segments, out);
  }
  out.push_back('}');
}

}  // namespace omnigate::gateway
