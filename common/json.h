#pragma once

#include <string>
#include <string_view>

namespace omnigate {

// Appends `text` as a JSON string literal, quotes included. Ill-formed UTF-8
// is replaced by U+FFFD (one per maximal ill-formed subpart), so the output is
// always valid JSON whatever the input bytes.
void AppendJsonString(std::string_view text, std::string& out);

}  // namespace omnigate
