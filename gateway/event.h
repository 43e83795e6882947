#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"

namespace omnigate::gateway {

// The statuses of DESIGN.md §5.
enum class EventStatus : std::uint8_t {
  accepted,
  scheduled,
  deferred,
  sent,
  delivered,
  read,
  retrying,
  fallback,
  duplicate,
  suppressed,
  rejected,
  failed,
  expired,
  // From delivery receipts (never final for a request that ended `sent`).
  undelivered,
  opened,
  clicked,
  unsubscribed,
  complained,
};
inline constexpr int kEventStatusCount = 18;

std::string_view ToString(EventStatus s);

// One state change of a request, as written to `omnigate.events`. String
// fields are views: the caller keeps them alive while encoding. Empty optional
// text fields are written as JSON null.
struct Event {
  std::string_view id;
  std::string_view tenant;
  std::uint32_t seq = 0;
  EventStatus status = EventStatus::accepted;
  bool final = false;
  std::string_view channel;
  std::string_view provider;
  std::string_view provider_message_id;
  std::uint32_t attempt = 0;
  std::string_view reason;
  std::string_view campaign;
  std::chrono::system_clock::time_point ts;
  // SMS segments billed (sent events of the sms channel); 0 = omitted.
  int segments = 0;
  // A receipt's own words: the provider's status and error code (omitted
  // when empty).
  std::string_view raw_status;
  std::string_view error_code;
};

// Appends the event's JSON (one object, no trailing newline) to `out`.
// Strings are escaped per RFC 8259; `ts` is RFC 3339 UTC with milliseconds.
void AppendEventJson(const Event& event, std::string& out);

using omnigate::AppendJsonString;

// RFC 3339 UTC with milliseconds: "2026-11-22T10:00:01.234Z".
void AppendTimestamp(std::chrono::system_clock::time_point ts, std::string& out);

}  // namespace omnigate::gateway
