#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace omnigate {

// Parses "<integer><unit>" with unit one of ms, s, m, h, d (e.g. "250ms",
// "10s", "10m", "1h", "1d"). A bare "0" is accepted. Returns nullopt on any
// other input, including negatives and overflow.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The inverse of ParseDuration, using the largest unit that divides exactly.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace omnigate
