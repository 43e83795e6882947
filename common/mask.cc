#include "common/mask.h"

#include <cctype>

namespace omnigate {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsEmailLocalChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-' ||
         c == '+' || c == '%';
}

bool IsDomainChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
}

}  // namespace

std::string MaskPhone(std::string_view phone) {
  if (phone.size() < 8) return std::string(phone.size(), '*');
  const std::size_t keep_head = phone.front() == '+' ? 5 : 4;
  const std::size_t keep_tail = 3;
  std::string out(phone);
  for (std::size_t i = keep_head; i + keep_tail < out.size(); ++i) out[i] = '*';
  return out;
}

std::string MaskEmail(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::string(email.size(), '*');
  std::string out;
  out.reserve(email.size());
  out.push_back(email.front());
  out.append("***");
  out.append(email.substr(at));
  return out;
}

std::string MaskAddress(std::string_view address) {
  return address.find('@') != std::string_view::npos ? MaskEmail(address) : MaskPhone(address);
}

std::string MaskPiiInText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    // Email: scan a local part followed by '@' and a domain with a dot.
    if (IsEmailLocalChar(c)) {
      std::size_t j = i;
      while (j < text.size() && IsEmailLocalChar(text[j])) ++j;
      if (j < text.size() && text[j] == '@') {
        std::size_t k = j + 1;
        bool dot = false;
        while (k < text.size() && IsDomainChar(text[k])) {
          dot = dot || text[k] == '.';
          ++k;
        }
        if (dot && k > j + 1) {
          out += MaskEmail(text.substr(i, k - i));
          i = k;
          continue;
        }
      }
    }
    // Phone: '+' or digit, then digits with optional single separators.
    if (IsDigit(c) || (c == '+' && i + 1 < text.size() && IsDigit(text[i + 1]))) {
      std::size_t j = i + (c == '+' ? 1 : 0);
      std::size_t digits = 0;
      while (j < text.size()) {
        if (IsDigit(text[j])) {
          ++digits;
          ++j;
        } else if ((text[j] == ' ' || text[j] == '-') && j + 1 < text.size() &&
                   IsDigit(text[j + 1])) {
          ++j;
        } else {
          break;
        }
      }
      const bool preceded_by_word =
          i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1])) != 0;
      if (digits >= 7 && !preceded_by_word) {
        out += MaskPhone(text.substr(i, j - i));
        i = j;
        continue;
      }
      out.append(text.substr(i, j - i));
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace omnigate
