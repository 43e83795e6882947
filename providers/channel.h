#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace omnigate {

// The channels of DESIGN.md §4. The numeric values index per-channel arrays.
enum class Channel : std::uint8_t { email = 0, sms = 1, viber = 2, webpush = 3 };
inline constexpr std::size_t kChannelCount = 4;
inline constexpr std::array<Channel, kChannelCount> kAllChannels = {Channel::email, Channel::sms,
                                                                    Channel::viber, Channel::webpush};

constexpr std::string_view ToString(Channel c) {
  switch (c) {
    case Channel::email: return "email";
    case Channel::sms: return "sms";
    case Channel::viber: return "viber";
    case Channel::webpush: return "webpush";
  }
  return "unknown";
}

constexpr std::optional<Channel> ChannelFromString(std::string_view s) {
  for (Channel c : kAllChannels) {
    if (ToString(c) == s) return c;
  }
  return std::nullopt;
}

}  // namespace omnigate
