#pragma once

#include <string>
#include <string_view>

namespace omnigate {

// PII masking for log lines (DESIGN.md §8). Masking keeps enough to correlate
// ("+4070****001", "a***@example.com") and never the whole address.

// "+40700000001" -> "+4070*****001". Short inputs are masked entirely.
std::string MaskPhone(std::string_view phone);

// "ana.maria@example.com" -> "a***@example.com". No '@': masked like a token.
std::string MaskEmail(std::string_view email);

// Picks MaskEmail for anything with an '@', MaskPhone otherwise.
std::string MaskAddress(std::string_view address);

// Replaces every phone-number-like run (optional '+', 7+ digits, spaces or
// dashes allowed between digits) and every email-like token in free text.
// Used on provider response bodies before they are logged.
std::string MaskPiiInText(std::string_view text);

}  // namespace omnigate
