#pragma once

#include <memory>
#include <string>

#include <spdlog/common.h>

namespace omnigate::gateway {

struct LogConfig;

// Installs the process-wide logger: stderr, level from config, text or JSON
// lines. Every line passes through MaskPiiInText before it is written, so a
// phone number or email that reaches a log call by mistake is still masked
// (call sites mask addresses themselves too). Returns false and leaves the
// logger as it was when the level name is unknown.
bool SetupLogging(const std::string& level, bool json);

// The masking sink SetupLogging installs, around any sink (tests use an
// ostream sink). With `json_escape`, messages are escaped for a JSON string.
spdlog::sink_ptr MakeMaskingSink(spdlog::sink_ptr inner, bool json_escape);

}  // namespace omnigate::gateway
