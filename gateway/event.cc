#include "gateway/event.h"

#include <array>
#include <charconv>
#include <cstddef>

namespace omnigate::gateway {
namespace {


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
    case EventStatus::undelivered:
      return "undelivered";
    case EventStatus::opened:
      return "opened";
    case EventStatus::clicked:
      return "clicked";
    case EventStatus::unsubscribed:
      return "unsubscribed";
    case EventStatus::complained:
      return "complained";
  }
  return "unknown";
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
  if (!event.raw_status.empty()) {
    out += ",\"raw_status\":";
    AppendJsonString(event.raw_status, out);
  }
  if (!event.error_code.empty()) {
    out += ",\"error_code\":";
    AppendJsonString(event.error_code, out);
  }
  out.push_back('}');
}

}  // namespace omnigate::gateway
