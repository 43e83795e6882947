#include "providers/smtp/mime_message.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>

#include "common/text.h"
#include "providers/mailbox.h"

namespace omnigate::providers {
namespace {

constexpr std::string_view kCrlf = "\r\n";
// RFC 5322 §2.1.1: SHOULD stay within 78 characters, MUST within 998.
constexpr std::size_t kFoldColumn = 78;
constexpr std::size_t kMaxLine = 998;
// RFC 2047 §2: an encoded word is at most 75 characters.
constexpr std::size_t kMaxEncodedWord = 75;
constexpr std::string_view kWordPrefix = "=?UTF-8?B?";
constexpr std::string_view kWordSuffix = "?=";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool HasLineBreak(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Length of the UTF-8 sequence starting at s[i], clamped to the input; stray
// bytes count as one so that invalid input still makes progress.
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 1;
  if (c >= 0xF0 && c <= 0xF7) {
    n = 4;
  } else if (c >= 0xE0) {
    n = c <= 0xEF ? 3 : 1;
  } else if (c >= 0xC0) {
    n = 2;
  }
  return std::min(n, s.size() - i);
}

// Appends `text` as a run of encoded words, each preceded by a space or a
// fold, to a header line currently `col` characters long. Words never split a
// UTF-8 sequence.
void AppendEncodedWords(std::string_view text, std::string& out, std::size_t& col) {
  constexpr std::size_t kOverhead = kWordPrefix.size() + kWordSuffix.size();
  // Room for one 4-byte character: 8 base64 characters.
  constexpr std::size_t kMinWord = kOverhead + 8;
  std::size_t i = 0;
  while (i < text.size()) {
    if (col + 1 + kMinWord > kFoldColumn) {
      out.append(kCrlf);
      col = 0;
    }
    out.push_back(' ');
    ++col;
    const std::size_t max_word = std::min(kMaxEncodedWord, kFoldColumn - col);
    const std::size_t max_bytes = (max_word - kOverhead) / 4 * 3;
    std::size_t end = i;
    while (end < text.size()) {
      const std::size_t n = Utf8Length(text, end);
      if (end + n - i > max_bytes) break;
      end += n;
    }
    out.append(kWordPrefix);
    const std::size_t before = out.size();
    AppendBase64(text.substr(i, end - i), out);
    out.append(kWordSuffix);
    col += kOverhead + (out.size() - before - kWordSuffix.size());
    i = end;
  }
}

bool IsPrintableAscii(unsigned char c) { return c >= 0x20 && c < 0x7F; }

// Unstructured text that must not go out verbatim: 8-bit, controls, a
// sequence a reader would take for an encoded word, or a run of non-space
// characters too long to fold.
bool NeedsEncoding(std::string_view text) {
  if (text.find("=?") != std::string_view::npos) return true;
  std::size_t run = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (!IsPrintableAscii(c) && c != '\t') return true;
    run = c == ' ' ? 0 : run + 1;
    if (run > 70) return true;
  }
  return false;
}

// Folds an all-ASCII field at spaces so lines stay within 78 columns.
std::string FoldAtSpaces(std::string line) {
  std::string out;
  std::size_t start = 0;
  // The first line must keep at least "Name: x" together.
  std::size_t min_break = line.find(':') + 2;
  while (line.size() - start > kFoldColumn) {
    std::size_t brk = std::string::npos;
    for (std::size_t i = start + kFoldColumn; i > start + min_break; --i) {
      if (line[i] == ' ') {
        brk = i;
        break;
      }
    }
    if (brk == std::string::npos) break;  // NeedsEncoding keeps words short
    out.append(line, start, brk - start);
    out.append(kCrlf);
    start = brk;
    min_break = 1;
  }
  out.append(line, start, std::string::npos);
  return out;
}

// RFC 5322 atext plus the space between words of a phrase.
bool IsPhraseChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ') {
    return true;
  }
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// An address as it may appear in a header and in MAIL FROM / RCPT TO: ASCII,
// no spaces, quotes or delimiters, one '@' with both sides non-empty.
bool IsPlainAddress(std::string_view a) {
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  for (const char ch : a) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return false;
    if (std::string_view("<>,;:\"()[]\\").find(ch) != std::string_view::npos) return false;
  }
  return true;
}

std::string Unquote(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::string(s);
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) ++i;
    out.push_back(s[i]);
  }
  return out;
}

Result<std::string, std::string> FromHeader(std::string_view from) {
  const std::string addr = AddrSpecOf(from);
  if (!IsPlainAddress(addr)) return MakeUnexpected(std::string("invalid from address"));
  std::string name;
  if (const auto lt = from.rfind('<'); lt != std::string_view::npos) {
    name = Unquote(Trim(from.substr(0, lt)));
  }
  std::string out = "From:";
  if (name.empty()) return out + " " + addr;
  std::size_t col = out.size();
  const bool plain = std::all_of(
      name.begin(), name.end(), [](char c) { return IsPhraseChar(static_cast<unsigned char>(c)); });
  if (NeedsEncoding(name)) {
    AppendEncodedWords(name, out, col);
  } else if (plain) {
    out += " " + name;
    col += 1 + name.size();
  } else {
    out += " \"";
    for (const char c : name) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
    col = out.size();
  }
  const std::string angle = "<" + addr + ">";
  if (col + 1 + angle.size() > kFoldColumn) out.append(kCrlf);
  out += " " + angle;
  return out;
}

std::uint64_t Fnv1a(std::string_view s, std::uint64_t salt) {
  std::uint64_t h = 1469598103934665603ULL ^ salt;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// 128 random bits as hex; reproducible from `seed` when it is non-empty.
std::string RandomHex(std::string_view seed, std::uint64_t salt) {
  thread_local std::mt19937_64 random_engine = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  std::mt19937_64 seeded(Fnv1a(seed, salt));
  std::mt19937_64& gen = seed.empty() ? random_engine : seeded;
  std::string out;
  for (int i = 0; i < 2; ++i) {
    std::array<char, 17> buf{};
    std::snprintf(buf.data(), buf.size(), "%016llx",
                  static_cast<unsigned long long>(gen()));  // NOLINT(google-runtime-int)
    out += buf.data();
  }
  return out;
}

void AppendTextPart(std::string_view content_type, std::string_view body, std::string& out) {
  out += "Content-Type: ";
  out += content_type;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += EncodeQuotedPrintable(body);
}

bool HeaderLinesWithinLimit(std::string_view msg) {
  const auto end = msg.find("\r\n\r\n");
  std::size_t start = 0;
  while (start < end) {
    const auto eol = msg.find(kCrlf, start);
    if (eol - start > kMaxLine) return false;
    start = eol + 2;
  }
  return true;
}

}  // namespace

std::string AddrSpecOf(std::string_view from) {
  const auto lt = from.rfind('<');
  if (lt != std::string_view::npos) {
    const auto gt = from.find('>', lt);
    if (gt != std::string_view::npos) return std::string(Trim(from.substr(lt + 1, gt - lt - 1)));
  }
  return std::string(Trim(from));
}

std::string NewMessageId(std::string_view domain, std::string_view seed) {
  return RandomHex(seed, 0x6d7367) + "@" + std::string(domain);
}

std::string FormatRfc5322Date(std::chrono::system_clock::time_point t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf.data();
}

std::string FoldUnstructuredHeader(std::string_view header_name, std::string_view text) {
  std::string out(header_name);
  out.push_back(':');
  if (!NeedsEncoding(text)) {
    out.push_back(' ');
    out.append(text);
    return FoldAtSpaces(std::move(out));
  }
  std::size_t col = out.size();
  AppendEncodedWords(text, out, col);
  return out;
}

std::string EncodeQuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // Content characters per line; a soft break adds the 76th, '='.
  constexpr std::size_t kMaxContent = 75;
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 16);
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find_first_of("\r\n", pos);
    const bool last = eol == std::string_view::npos;
    if (last) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      const bool trailing_space = (c == ' ' || c == '\t') && i + 1 == line.size();
      const bool literal =
          !trailing_space && c != '=' && (c == ' ' || c == '\t' || (c > 0x20 && c < 0x7F));
      const std::size_t width = literal ? 1 : 3;
      if (col + width > kMaxContent) {
        out.append("=\r\n");
        col = 0;
      }
      if (literal) {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('=');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      }
      col += width;
    }
    if (last) break;
    out.append(kCrlf);
    // CRLF, lone LF and lone CR each end one line.
    pos = eol + ((text[eol] == '\r' && eol + 1 < text.size() && text[eol + 1] == '\n') ? 2 : 1);
    if (pos == text.size()) break;
  }
  return out;
}

Result<std::string, std::string> BuildMimeMessage(const EmailMessage& m, const MimeOptions& o) {
  const std::string_view from = m.from.empty() ? std::string_view(o.from_default) : m.from;
  if (HasLineBreak(m.subject)) return MakeUnexpected(std::string("CR or LF in subject"));
  if (HasLineBreak(from)) return MakeUnexpected(std::string("CR or LF in from"));
  if (HasLineBreak(m.to)) return MakeUnexpected(std::string("CR or LF in to"));
  if (HasLineBreak(m.unsubscribe_url)) {
    return MakeUnexpected(std::string("CR or LF in unsubscribe_url"));
  }
  if (from.empty()) return MakeUnexpected(std::string("no from address"));
  const std::string to(Trim(m.to));
  if (!IsPlainAddress(to)) return MakeUnexpected(std::string("invalid to address"));
  auto from_header = FromHeader(from);
  if (!from_header) return MakeUnexpected(std::move(from_header.error()));

  std::string message_id = o.message_id;
  if (message_id.empty()) {
    std::string domain = o.message_id_domain;
    if (domain.empty()) {
      const std::string addr = AddrSpecOf(from);
      domain = addr.substr(addr.rfind('@') + 1);
    }
    message_id = NewMessageId(domain, o.boundary_seed);
  }
  if (!IsPlainAddress(message_id)) return MakeUnexpected(std::string("invalid message id"));

  std::string out;
  out.reserve(1024 + (m.text.size() + m.html.size()) * 5 / 4);
  out += "Date: " + FormatRfc5322Date(o.date) + "\r\n";
  out += *from_header;
  out += kCrlf;
  out += "To: " + to + "\r\n";
  out += FoldUnstructuredHeader("Subject", m.subject);
  out += kCrlf;
  out += "Message-ID: <" + message_id + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (!m.unsubscribe_url.empty()) {
    out += "List-Unsubscribe: ";
    AppendListUnsubscribeTarget(m.unsubscribe_url, out);
    out += "\r\n";
    out += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  }
  if (!m.text.empty() && !m.html.empty()) {
    // "=_" never occurs in quoted-printable output, so no part can contain
    // the boundary.
    const std::string boundary = "=_og_" + RandomHex(o.boundary_seed, 0x626e64);
    out += "Content-Type: multipart/alternative;\r\n boundary=\"" + boundary + "\"\r\n\r\n";
    out += "--" + boundary + "\r\n";
    AppendTextPart("text/plain", m.text, out);
    out += "\r\n--" + boundary + "\r\n";
    AppendTextPart("text/html", m.html, out);
    out += "\r\n--" + boundary + "--\r\n";
  } else {
    const bool html = m.text.empty() && !m.html.empty();
    AppendTextPart(html ? "text/html" : "text/plain", html ? m.html : m.text, out);
    if (out.size() < 2 || out.compare(out.size() - 2, 2, kCrlf) != 0) out += kCrlf;
  }
  if (!HeaderLinesWithinLimit(out)) return MakeUnexpected(std::string("header line too long"));
  return out;
}

}  // namespace omnigate::providers
