#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "providers/channel.h"
#include "providers/provider.h"

namespace omnigate::gateway {

enum class Lane : std::uint8_t { transactional, bulk };
constexpr std::string_view ToString(Lane l) {
  return l == Lane::transactional ? "transactional" : "bulk";
}

enum class WaitFor : std::uint8_t { sent, delivered, read };
// RFC 8030 §5.3 urgency; the adapters use the same type.
using Urgency = providers::PushUrgency;

struct WebPushSubscription {
  std::string endpoint;  // https URL of the push service
  std::string p256dh;    // base64url, 65-byte uncompressed P-256 point
  std::string auth;      // base64url, 16-byte auth secret
};

struct Recipient {
  std::string user_id;
  std::string email;
  std::string phone;  // E.164
  std::string viber;
  std::optional<WebPushSubscription> webpush;
  std::string timezone;  // IANA name, e.g. "Europe/Bucharest"
};

struct CascadeStep {
  WaitFor wait_for = WaitFor::delivered;
  std::chrono::milliseconds timeout{10 * 60 * 1000};
};

struct SmsContent {
  std::string text;
  std::string sender;
};

struct ViberButton {
  std::string caption;
  std::string url;
};

struct ViberContent {
  std::string text;
  std::string image_url;
  std::optional<ViberButton> button;
};

struct EmailContent {
  std::string from;
  std::string subject;
  std::string html;
  std::string text;
  std::string unsubscribe_url;
};

struct WebPushContent {
  std::string title;
  std::string body;
  std::string url;
  std::string icon;
  std::chrono::milliseconds ttl{24 * 3600 * 1000};
  Urgency urgency = Urgency::normal;
  std::string topic;
  // The plaintext the adapter encrypts: {"title","body","url","icon"} as JSON,
  // built and size-checked by the decoder.
  std::string payload;
};

// A validated send request (DESIGN.md §4, version 1). Every channel listed in
// `channels` has its address in `to` and its content set.
struct SendRequest {
  std::string id;
  std::string tenant;
  Lane lane = Lane::transactional;
  Recipient to;
  std::vector<Channel> channels;  // cascade order, unique, non-empty
  // Indexed by Channel; set only for channels that have a cascade entry.
  std::array<std::optional<CascadeStep>, kChannelCount> cascade;
  std::optional<SmsContent> sms;
  std::optional<ViberContent> viber;
  std::optional<EmailContent> email;
  std::optional<WebPushContent> webpush;
  std::optional<std::chrono::system_clock::time_point> send_at;
  std::optional<std::chrono::system_clock::time_point> expires_at;
  std::string campaign;
  std::vector<std::string> tags;
};

// Why a request was rejected. `field` is a JSON path ("to.phone",
// "channels[1]", "content.email.subject"); `rule` is a stable machine-readable
// name ("required", "type", "e164", "max_length", ...); `detail` is for humans.
struct ValidationError {
  std::string field;
  std::string rule;
  std::string detail;

  // "to.phone: e164: must be '+' followed by 7 to 15 digits"
  std::string ToString() const;
};

// RFC 3339 date-time as requests carry it (send_at, expires_at):
// YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), 'T' and 'Z' in either case
// (§5.6). nullopt when malformed, or with `out_of_range` set when the year is
// outside kMinYear..kMaxYear. The admin API reads its expiries with it too.
inline constexpr int kMinYear = 1970;
inline constexpr int kMaxYear = 2261;
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s,
                                                                  bool& out_of_range);

// Decodes and validates send requests with simdjson. Holds a reusable parser
// and its buffers: one instance per worker thread, not thread-safe.
class RequestDecoder {
 public:
  RequestDecoder();
  ~RequestDecoder();
  RequestDecoder(const RequestDecoder&) = delete;
  RequestDecoder& operator=(const RequestDecoder&) = delete;

  // `default_lane` comes from the topic the bytes were read from; a "lane"
  // field in the request overrides it. Expiry is the worker's concern.
  Result<SendRequest, ValidationError> Decode(std::string_view bytes, Lane default_lane);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::gateway
