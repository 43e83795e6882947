// Decoding and validation of send requests (DESIGN.md §4; the rules and their
// names are documented for users in docs/wire-formats.md).
//
// The first failing check is reported, and checks run in a fixed order that
// does not depend on the order of keys in the document, so one request always
// gets the same reason:
//   1. body size, JSON syntax and UTF-8, the body being an object
//   2. version, id, tenant, lane
//   3. to: the object, then user_id, email, phone, viber, webpush (endpoint,
//      p256dh, auth), timezone
//   4. channels: the array and its size, then each element in order (type,
//      enum, duplicate)
//   5. content: the object, then each block that is present, in the order
//      sms, viber, email, webpush, each field in the order of the docs
//   6. for each listed channel in list order: its address, then its content
//   7. cascade: each key in document order (enum, order, type, wait_for,
//      timeout)
//   8. send_at, expires_at, then expires_at after send_at
//   9. campaign, tags
//
// Within a field: required, type, empty, max_length, then the format rule.
// Every length limit counts Unicode code points (as JSON Schema's maxLength
// does), except the email subject (bytes, RFC 5322 §2.1.1) and the web-push
// payload (bytes after serialization).

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "gateway/event.h"
#include "gateway/request.h"

namespace omnigate::gateway {
namespace {

namespace dom = simdjson::dom;
using std::chrono::milliseconds;
using Check = std::optional<ValidationError>;

constexpr std::size_t kMaxRequestBytes = 256 * 1024;
constexpr std::size_t kMaxIdLength = 128;
constexpr std::size_t kMaxTenantLength = 64;
constexpr std::size_t kMaxUserIdLength = 128;
constexpr std::size_t kMaxViberIdLength = 128;
constexpr std::size_t kMaxUrlLength = 2048;
constexpr std::size_t kMaxTimezoneLength = 64;
constexpr std::size_t kMaxChannels = kChannelCount;
constexpr std::size_t kMaxSmsText = 1600;
constexpr std::size_t kMaxSmsAlphanumericSender = 11;
constexpr std::size_t kMaxViberText = 7000;
constexpr std::size_t kMaxViberCaption = 30;
constexpr std::size_t kMaxEmailSubjectBytes = 998;
constexpr std::size_t kMaxWebPushTitle = 256;
constexpr std::size_t kMaxWebPushTopic = 32;  // RFC 8030 §5.4
constexpr std::size_t kMaxCampaignLength = 128;
constexpr std::size_t kMaxTags = 32;
constexpr std::size_t kMaxTagLength = 64;
constexpr std::size_t kMaxEmailLength = 254;  // RFC 5321 §4.5.3.1.3 path minus "<>"
constexpr std::size_t kMaxEmailLocalPart = 64;
constexpr std::size_t kP256PublicKeyBytes = 65;
constexpr std::size_t kWebPushAuthBytes = 16;
constexpr milliseconds kMaxCascadeTimeout{7LL * 24 * 3600 * 1000};
constexpr milliseconds kMaxWebPushTtl{28LL * 24 * 3600 * 1000};

// RFC 8291 encrypts the payload as a single aes128gcm record (RFC 8188) and
// push services need only accept 4096-byte bodies (RFC 8030 §7.2). The body
// is an 86-byte header (16 salt + 4 record size + 1 key id length + 65 key
// id, the sender's public key) and one record holding the plaintext, a 1-byte
// padding delimiter and the 16-byte AEAD tag: 4096 - 86 - 1 - 16 = 3993.
constexpr std::size_t kMaxWebPushPayloadBytes = 4096 - 86 - 1 - 16;
static_assert(kMaxWebPushPayloadBytes == 3993);

constexpr std::string_view kChannelValues = "email, sms, viber, webpush";

// A JSON path built from views into the document and literals: composing one
// costs nothing, and it becomes a string only when a request is rejected.
class Path {
 public:
  Path() = default;
  explicit Path(std::string_view name) { parts_[size_++] = name; }

  Path Child(std::string_view name) const {
    Path p = *this;
    p.index_ = -1;
    if (p.size_ < p.parts_.size()) p.parts_[p.size_++] = name;
    return p;
  }
  Path At(std::size_t index) const {
    Path p = *this;
    p.index_ = static_cast<long long>(index);
    return p;
  }

  std::string ToString() const {
    std::string out;
    for (std::size_t i = 0; i < size_; ++i) {
      if (i > 0) out.push_back('.');
      out += parts_[i];
    }
    if (index_ >= 0) out += fmt::format("[{}]", index_);
    return out;
  }

 private:
  std::array<std::string_view, 4> parts_{};
  std::size_t size_ = 0;
  long long index_ = -1;  // appended to the last part as "[i]"
};

ValidationError Fail(const Path& path, std::string_view rule, std::string detail) {
  return ValidationError{path.ToString(), std::string(rule), std::move(detail)};
}

std::string_view TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "array";
    case dom::element_type::OBJECT:
      return "object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "number";
    case dom::element_type::STRING:
      return "string";
    case dom::element_type::BOOL:
      return "boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

ValidationError TypeError(const Path& path, std::string_view expected, dom::element value) {
  return Fail(path, "type", fmt::format("expected {}, got {}", expected, TypeName(value.type())));
}

ValidationError RequiredError(const Path& path) { return Fail(path, "required", "is required"); }

ValidationError EnumError(const Path& path, std::string_view accepted) {
  return Fail(path, "enum", fmt::format("must be one of: {}", accepted));
}

// Absent and null are the same: producers commonly serialize unset optional
// fields as null, and rejecting those would only push work upstream.
bool Given(dom::object object, std::string_view key, dom::element& value) {
  return object.at_key(key).get(value) == simdjson::SUCCESS && !value.is_null();
}

// simdjson has already rejected invalid UTF-8, so counting non-continuation
// bytes is exact.
std::size_t CodePoints(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Check MaxLength(const Path& path, std::string_view text, std::size_t max) {
  const std::size_t n = CodePoints(text);
  if (n <= max) return std::nullopt;
  return Fail(path, "max_length", fmt::format("must be at most {} characters, got {}", max, n));
}

// Reads an optional string member into `out` (left untouched when not given).
Check OptionalString(dom::object object, const Path& parent, std::string_view key,
                     std::string_view& out, bool* given = nullptr) {
  dom::element value;
  if (given != nullptr) *given = false;
  if (!Given(object, key, value)) return std::nullopt;
  if (value.get(out) != simdjson::SUCCESS) return TypeError(parent.Child(key), "string", value);
  if (given != nullptr) *given = true;
  return std::nullopt;
}

Check RequiredString(dom::object object, const Path& parent, std::string_view key,
                     std::string_view& out) {
  dom::element value;
  if (!Given(object, key, value)) return RequiredError(parent.Child(key));
  if (value.get(out) != simdjson::SUCCESS) return TypeError(parent.Child(key), "string", value);
  return std::nullopt;
}

// A string that, when given, is 1..max code points.
Check OptionalBoundedString(dom::object object, const Path& parent, std::string_view key,
                            std::size_t max, std::string_view& out, bool* given = nullptr) {
  bool present = false;
  if (auto e = OptionalString(object, parent, key, out, &present)) return e;
  if (given != nullptr) *given = present;
  if (!present) return std::nullopt;
  if (out.empty()) return Fail(parent.Child(key), "empty", "must not be empty");
  return MaxLength(parent.Child(key), out, max);
}

Check OptionalObject(dom::object object, const Path& parent, std::string_view key, dom::object& out,
                     bool& given) {
  dom::element value;
  given = Given(object, key, value);
  if (!given) return std::nullopt;
  if (value.get(out) != simdjson::SUCCESS) return TypeError(parent.Child(key), "object", value);
  return std::nullopt;
}

// ---- formats ---------------------------------------------------------------

bool IsAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool IsE164(std::string_view s) {
  // "+", a non-zero country code digit, 7..15 digits in all (ITU-T E.164 §6).
  if (s.size() < 8 || s.size() > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return false;
  return std::all_of(s.begin() + 1, s.end(), IsDigit);
}

// RFC 1035 labels (letters, digits, inner hyphens, 1..63 each); IDNs must come
// as punycode, which is what every MTA and push service expects anyway.
const char* HostnameProblem(std::string_view host) {
  if (host.empty()) return "has an empty host";
  if (host.size() > 253) return "has a host name longer than 253 characters";
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty()) return "has an empty label in its host name";
    if (label.size() > 63) return "has a host name label longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') {
      return "has a host name label that starts or ends with '-'";
    }
    for (const char c : label) {
      if (!IsAlnum(c) && c != '-') return "has a character not allowed in a host name";
    }
    start = end + 1;
  }
  return nullptr;
}

bool IsAtext(char c) {
  return IsAlnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// An RFC 5321 mailbox with a dot-atom local part. Quoted local parts and
// address literals are valid but practically never legitimate in a send
// request, and providers refuse them; rejecting them here gives a clearer
// reason than a provider error later.
const char* EmailProblem(std::string_view s) {
  if (s.size() > kMaxEmailLength) return "must be at most 254 characters";
  const std::size_t at = s.rfind('@');
  if (at == std::string_view::npos) return "must be local@domain";
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  if (local.empty()) return "has an empty local part";
  if (local.size() > kMaxEmailLocalPart) return "has a local part longer than 64 characters";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return "has a misplaced '.' in the local part";
  }
  for (const char c : local) {
    if (!IsAtext(c) && c != '.') return "has a character not allowed in the local part";
  }
  if (domain.find('.') == std::string_view::npos) return "must have a dot in the domain";
  if (const char* problem = HostnameProblem(domain)) return problem;
  const std::string_view tld = domain.substr(domain.rfind('.') + 1);
  if (std::all_of(tld.begin(), tld.end(), IsDigit)) return "must have a domain name, not an IP";
  return nullptr;
}

bool HasSpaceOrControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

// https://host[:port][/path][?query][#fragment]. Only the parts a push
// service, an image CDN or a link checker would choke on are checked.
const char* HttpsUrlProblem(std::string_view s) {
  constexpr std::string_view kScheme = "https://";
  if (!StartsWithNoCase(s, kScheme)) return "must be an https:// URL";
  if (HasSpaceOrControl(s)) return "must not contain spaces or control characters";
  const std::string_view rest = s.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return "must not contain user info";
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return "has a malformed IPv6 host";
    for (const char c : authority.substr(1, close - 1)) {
      if (!IsDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') && c != ':' &&
          c != '.') {
        return "has a malformed IPv6 host";
      }
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "has a malformed IPv6 host";
      port = after.substr(1);
      if (port.empty()) return "has an empty port";
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      if (port.empty()) return "has an empty port";
    }
    if (authority.empty()) return "has no host";
    if (const char* problem = HostnameProblem(authority)) return problem;
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) {
      return "has a malformed port";
    }
    unsigned value = 0;
    for (const char c : port) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value == 0 || value > 65535) return "has a port outside 1..65535";
  }
  return nullptr;
}

Check HttpsUrl(const Path& path, std::string_view url) {
  if (auto e = MaxLength(path, url, kMaxUrlLength)) return e;
  if (const char* problem = HttpsUrlProblem(url)) return Fail(path, "url", problem);
  return std::nullopt;
}

Check OptionalHttpsUrl(dom::object object, const Path& parent, std::string_view key,
                       std::string_view& out) {
  bool given = false;
  if (auto e = OptionalString(object, parent, key, out, &given)) return e;
  if (!given) return std::nullopt;
  return HttpsUrl(parent.Child(key), out);
}

// List-Unsubscribe (RFC 2369) accepts https and mailto URIs.
Check UnsubscribeUrl(const Path& path, std::string_view url) {
  constexpr std::string_view kMailto = "mailto:";
  // The header lists URLs as <a>, <b>: these would let one URL end its
  // brackets and add a target of the publisher's choosing.
  if (url.find_first_of("<>,") != std::string_view::npos) {
    return Fail(path, "url",
                "must not contain '<', '>' or ','; percent-encode them (%3C, %3E, %2C)");
  }
  if (!StartsWithNoCase(url, kMailto)) return HttpsUrl(path, url);
  if (auto e = MaxLength(path, url, kMaxUrlLength)) return e;
  if (HasSpaceOrControl(url)) {
    return Fail(path, "url", "must not contain spaces or control characters");
  }
  std::string_view address = url.substr(kMailto.size());
  address = address.substr(0, address.find('?'));
  if (const char* problem = EmailProblem(address)) {
    return Fail(path, "url", fmt::format("mailto: address {}", problem));
  }
  return std::nullopt;
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (IsDigit(c)) return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Browsers hand out unpadded base64url (PushSubscription.toJSON); some
// libraries pad it. Both are accepted, standard base64 ('+', '/') is not,
// because the push service and the crypto expect the URL-safe form.
Check Base64UrlKey(const Path& path, std::string_view text, std::size_t expected_bytes,
                   bool uncompressed_point) {
  std::string_view body = text;
  std::size_t padding = 0;
  while (!body.empty() && body.back() == '=' && padding < 2) {
    body.remove_suffix(1);
    ++padding;
  }
  for (const char c : body) {
    if (Base64UrlValue(c) < 0) {
      return Fail(path, "base64url", "must use the base64url alphabet (A-Z a-z 0-9 - _)");
    }
  }
  if (body.size() % 4 == 1 || (padding > 0 && text.size() % 4 != 0)) {
    return Fail(path, "base64url", "has a length that is not valid base64url");
  }
  const std::size_t bytes = body.size() / 4 * 3 + (body.size() % 4 == 0 ? 0 : body.size() % 4 - 1);
  if (bytes != expected_bytes) {
    return Fail(path, "key_length",
                fmt::format("must decode to {} bytes, got {}", expected_bytes, bytes));
  }
  if (uncompressed_point) {
    const int first = (Base64UrlValue(body[0]) << 2) | (Base64UrlValue(body[1]) >> 4);
    if (first != 0x04) {
      return Fail(path, "key_length", "must be an uncompressed P-256 point (first byte 0x04)");
    }
  }
  return std::nullopt;
}

// "UTC" or an IANA-shaped "Area/Location[/Sub]". The tz database itself is
// not consulted: it differs between hosts and would make validation depend on
// where the worker runs; an unknown zone is handled where it is used.
bool IsTimezone(std::string_view s) {
  if (s == "UTC") return true;
  if (s.size() > kMaxTimezoneLength) return false;
  std::size_t segments = 0;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view segment = s.substr(start, end - start);
    if (segment.empty() || !IsAlpha(segment.front())) return false;
    for (const char c : segment) {
      if (!IsAlnum(c) && c != '_' && c != '-' && c != '+') return false;
    }
    ++segments;
    start = end + 1;
  }
  return segments >= 2;
}

bool ParseDigits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (!IsDigit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

// A leap second (:60) is accepted and lands on the next second, as a POSIX
// clock would show it. Digits past nanoseconds are truncated. system_clock
// counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11); a year outside
// kMinYear..kMaxYear sets `out_of_range` instead of wrapping around.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s,
                                                                  bool& out_of_range) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() < 20 || !ParseDigits(s, 0, 4, y) || s[4] != '-' || !ParseDigits(s, 5, 2, mo) ||
      s[7] != '-' || !ParseDigits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
      !ParseDigits(s, 11, 2, h) || s[13] != ':' || !ParseDigits(s, 14, 2, mi) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  // The offset moves the instant by under a day, which the margins of the
  // range absorb.
  if (y < kMinYear || y > kMaxYear) {
    out_of_range = true;
    return std::nullopt;
  }
  std::size_t pos = 19;
  nanoseconds fraction{0};
  if (s[pos] == '.') {
    ++pos;
    const std::size_t first = pos;
    std::int64_t ns = 0;
    while (pos < s.size() && IsDigit(s[pos])) {
      if (pos - first < 9) ns = ns * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == first) return std::nullopt;
    for (std::size_t digits = pos - first; digits < 9; ++digits) ns *= 10;
    fraction = nanoseconds{ns};
  }
  if (pos >= s.size()) return std::nullopt;
  minutes offset{0};
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
    // UTC
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0, om = 0;
    if (s.size() != pos + 6 || !ParseDigits(s, pos + 1, 2, oh) || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = minutes{oh * 60 + om};
    if (s[pos] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  // system_clock counts nanoseconds in 64 bits, from 1677-09-21 to 2262-04-11.
  // Converting a time outside that overflowed (UB; in practice it wrapped, so a
  // send_at in 2300 was due at once): such times are refused. The sum in
  // seconds cannot overflow for any 4-digit year.
  const seconds utc = sys_days{ymd}.time_since_epoch() + hours{h} + minutes{mi} + seconds{sec} - offset;
  constexpr seconds kEarliest = duration_cast<seconds>(system_clock::duration::min()) + seconds{1};
  constexpr seconds kLatest = duration_cast<seconds>(system_clock::duration::max()) - seconds{1};
  if (utc < kEarliest || utc > kLatest) return std::nullopt;
  return system_clock::time_point(duration_cast<system_clock::duration>(utc) + fraction);
}

namespace {

Check OptionalTimestamp(dom::object object, std::string_view key,
                        std::optional<std::chrono::system_clock::time_point>& out) {
  std::string_view text;
  bool given = false;
  const Path path(key);
  if (auto e = OptionalString(object, Path(), key, text, &given)) return e;
  if (!given) return std::nullopt;
  bool out_of_range = false;
  out = ParseRfc3339(text, out_of_range);
  if (out_of_range) {
    return Fail(path, "range",
                fmt::format("must be between {}-01-01 and {}-12-31", kMinYear, kMaxYear));
  }
  if (!out) {
    return Fail(path, "timestamp",
                "must be an RFC 3339 date-time with Z or an offset, e.g. 2026-11-22T10:00:00Z, "
                "from 1677-09-22 to 2262-04-10");
  }
  return std::nullopt;
}

Check OptionalDuration(dom::object object, const Path& parent, std::string_view key,
                       milliseconds min, bool min_exclusive, milliseconds max, milliseconds& out) {
  std::string_view text;
  bool given = false;
  if (auto e = OptionalString(object, parent, key, text, &given)) return e;
  if (!given) return std::nullopt;
  const auto parsed = ParseDuration(text);
  if (!parsed) {
    return Fail(parent.Child(key), "duration",
                "must be an integer with a unit ms, s, m, h or d, e.g. \"10m\"");
  }
  if (*parsed < min || (min_exclusive && *parsed == min) || *parsed > max) {
    return Fail(parent.Child(key), "range",
                fmt::format("must be {} {} and at most {}", min_exclusive ? "above" : "at least",
                            FormatDuration(min), FormatDuration(max)));
  }
  out = *parsed;
  return std::nullopt;
}

// ---- sections --------------------------------------------------------------

Check DecodeVersion(dom::object root) {
  dom::element value;
  if (!Given(root, "version", value)) return std::nullopt;
  const Path path("version");
  std::int64_t signed_version = 0;
  std::uint64_t unsigned_version = 0;
  if (value.get(signed_version) == simdjson::SUCCESS) {
    if (signed_version == 1) return std::nullopt;
  } else if (value.get(unsigned_version) != simdjson::SUCCESS) {
    return TypeError(path, "integer", value);
  }
  return EnumError(path, "1");
}

Check DecodeId(dom::object root, SendRequest& req) {
  const Path path("id");
  std::string_view id;
  if (auto e = RequiredString(root, Path(), "id", id)) return e;
  if (id.empty()) return Fail(path, "empty", "must not be empty");
  if (auto e = MaxLength(path, id, kMaxIdLength)) return e;
  for (const char c : id) {
    if (c < 0x21 || c > 0x7E) {
      return Fail(path, "printable_ascii",
                  "must be printable ASCII without spaces or control characters");
    }
  }
  req.id.assign(id);
  return std::nullopt;
}

Check DecodeTenant(dom::object root, SendRequest& req) {
  std::string_view tenant = "default";
  if (auto e = OptionalBoundedString(root, Path(), "tenant", kMaxTenantLength, tenant)) return e;
  for (const char c : tenant) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return Fail(Path("tenant"), "charset", "may contain only A-Z a-z 0-9 . _ -");
    }
  }
  req.tenant.assign(tenant);
  return std::nullopt;
}

Check DecodeLane(dom::object root, SendRequest& req) {
  std::string_view lane;
  bool given = false;
  if (auto e = OptionalString(root, Path(), "lane", lane, &given)) return e;
  if (!given) return std::nullopt;
  if (lane == "transactional") {
    req.lane = Lane::transactional;
  } else if (lane == "bulk") {
    req.lane = Lane::bulk;
  } else {
    return EnumError(Path("lane"), "transactional, bulk");
  }
  return std::nullopt;
}

Check DecodeWebPushSubscription(dom::object to, const Path& parent, Recipient& recipient) {
  dom::object sub;
  bool given = false;
  if (auto e = OptionalObject(to, parent, "webpush", sub, given)) return e;
  if (!given) return std::nullopt;
  const Path path = parent.Child("webpush");
  std::string_view endpoint, p256dh, auth;
  if (auto e = RequiredString(sub, path, "endpoint", endpoint)) return e;
  if (auto e = HttpsUrl(path.Child("endpoint"), endpoint)) return e;
  if (auto e = RequiredString(sub, path, "p256dh", p256dh)) return e;
  if (auto e = Base64UrlKey(path.Child("p256dh"), p256dh, kP256PublicKeyBytes, true)) return e;
  if (auto e = RequiredString(sub, path, "auth", auth)) return e;
  if (auto e = Base64UrlKey(path.Child("auth"), auth, kWebPushAuthBytes, false)) return e;
  auto& out = recipient.webpush.emplace();
  out.endpoint.assign(endpoint);
  out.p256dh.assign(p256dh);
  out.auth.assign(auth);
  return std::nullopt;
}

Check DecodeRecipient(dom::object root, SendRequest& req) {
  dom::element value;
  const Path path("to");
  if (!Given(root, "to", value)) return RequiredError(path);
  dom::object to;
  if (value.get(to) != simdjson::SUCCESS) return TypeError(path, "object", value);
  Recipient& r = req.to;

  std::string_view text;
  bool given = false;
  if (auto e = OptionalBoundedString(to, path, "user_id", kMaxUserIdLength, text, &given)) return e;
  if (given) r.user_id.assign(text);

  if (auto e = OptionalString(to, path, "email", text, &given)) return e;
  if (given) {
    if (const char* problem = EmailProblem(text)) {
      return Fail(path.Child("email"), "email", problem);
    }
    r.email.assign(text);
  }

  if (auto e = OptionalString(to, path, "phone", text, &given)) return e;
  if (given) {
    if (!IsE164(text)) {
      return Fail(path.Child("phone"), "e164", "must be '+' followed by 7 to 15 digits");
    }
    r.phone.assign(text);
  }

  if (auto e = OptionalBoundedString(to, path, "viber", kMaxViberIdLength, text, &given)) return e;
  if (given) r.viber.assign(text);

  if (auto e = DecodeWebPushSubscription(to, path, r)) return e;

  if (auto e = OptionalString(to, path, "timezone", text, &given)) return e;
  if (given) {
    if (!IsTimezone(text)) {
      return Fail(path.Child("timezone"), "timezone",
                  "must be an IANA time zone name such as Europe/Bucharest, or UTC");
    }
    r.timezone.assign(text);
  }
  return std::nullopt;
}

Check DecodeChannels(dom::object root, SendRequest& req) {
  dom::element value;
  const Path path("channels");
  if (!Given(root, "channels", value)) return RequiredError(path);
  dom::array channels;
  if (value.get(channels) != simdjson::SUCCESS) return TypeError(path, "array", value);
  const std::size_t count = channels.size();
  if (count == 0) return Fail(path, "empty", "must list at least one channel");
  if (count > kMaxChannels) {
    return Fail(path, "max_length",
                fmt::format("must list at most {} channels, got {}", kMaxChannels, count));
  }
  req.channels.reserve(count);
  std::size_t i = 0;
  for (dom::element item : channels) {
    std::string_view name;
    if (item.get(name) != simdjson::SUCCESS) return TypeError(path.At(i), "string", item);
    const auto channel = ChannelFromString(name);
    if (!channel) return EnumError(path.At(i), kChannelValues);
    if (std::find(req.channels.begin(), req.channels.end(), *channel) != req.channels.end()) {
      return Fail(path.At(i), "duplicate", fmt::format("{} is listed twice", name));
    }
    req.channels.push_back(*channel);
    ++i;
  }
  return std::nullopt;
}

Check DecodeSmsContent(dom::object content, const Path& parent, SendRequest& req) {
  dom::object sms;
  bool given = false;
  if (auto e = OptionalObject(content, parent, "sms", sms, given)) return e;
  if (!given) return std::nullopt;
  const Path path = parent.Child("sms");
  std::string_view text, sender;
  if (auto e = RequiredString(sms, path, "text", text)) return e;
  if (text.empty()) return Fail(path.Child("text"), "empty", "must not be empty");
  if (auto e = MaxLength(path.Child("text"), text, kMaxSmsText)) return e;
  bool has_sender = false;
  if (auto e = OptionalString(sms, path, "sender", sender, &has_sender)) return e;
  if (has_sender && !IsE164(sender)) {
    // Alphanumeric sender IDs are at most 11 characters (GSM 03.40 TP-OA).
    const bool alphanumeric =
        !sender.empty() && sender.size() <= kMaxSmsAlphanumericSender &&
        std::all_of(sender.begin(), sender.end(), [](char c) { return IsAlnum(c) || c == ' '; }) &&
        std::any_of(sender.begin(), sender.end(), IsAlnum);
    if (!alphanumeric) {
      return Fail(path.Child("sender"), "sender",
                  "must be an E.164 number or 1 to 11 letters, digits and spaces");
    }
  }
  auto& out = req.sms.emplace();
  out.text.assign(text);
  out.sender.assign(sender);
  return std::nullopt;
}

Check DecodeViberContent(dom::object content, const Path& parent, SendRequest& req) {
  dom::object viber;
  bool given = false;
  if (auto e = OptionalObject(content, parent, "viber", viber, given)) return e;
  if (!given) return std::nullopt;
  const Path path = parent.Child("viber");
  std::string_view text, image_url;
  if (auto e = OptionalString(viber, path, "text", text)) return e;
  if (auto e = MaxLength(path.Child("text"), text, kMaxViberText)) return e;
  bool has_image = false;
  if (auto e = OptionalString(viber, path, "image_url", image_url, &has_image)) return e;
  if (has_image) {
    if (auto e = HttpsUrl(path.Child("image_url"), image_url)) return e;
  }
  if (text.empty() && !has_image) {
    return Fail(path.Child("text"), "required", "is required unless image_url is given");
  }
  dom::object button;
  bool has_button = false;
  std::string_view caption, button_url;
  if (auto e = OptionalObject(viber, path, "button", button, has_button)) return e;
  if (has_button) {
    const Path button_path = path.Child("button");
    if (auto e = RequiredString(button, button_path, "caption", caption)) return e;
    if (caption.empty()) return Fail(button_path.Child("caption"), "empty", "must not be empty");
    if (auto e = MaxLength(button_path.Child("caption"), caption, kMaxViberCaption)) return e;
    if (auto e = RequiredString(button, button_path, "url", button_url)) return e;
    if (auto e = HttpsUrl(button_path.Child("url"), button_url)) return e;
    // Viber renders a button only under text; image + button alone is refused.
    if (text.empty()) return Fail(path.Child("text"), "required", "a button requires text");
  }
  auto& out = req.viber.emplace();
  out.text.assign(text);
  out.image_url.assign(image_url);
  if (has_button) out.button = ViberButton{std::string(caption), std::string(button_url)};
  return std::nullopt;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// "Name <addr>", "\"Name, Inc\" <addr>" or a bare addr-spec.
Check EmailFrom(const Path& path, std::string_view from) {
  if (HasLineBreak(from)) return Fail(path, "header", "must not contain CR or LF");
  std::string_view address = from;
  while (!address.empty() && address.back() == ' ') address.remove_suffix(1);
  if (!address.empty() && address.back() == '>') {
    const std::size_t open = address.rfind('<');
    if (open == std::string_view::npos) return Fail(path, "email", "has '>' without '<'");
    address = address.substr(open + 1, address.size() - open - 2);
  }
  if (const char* problem = EmailProblem(address)) return Fail(path, "email", problem);
  return std::nullopt;
}

Check DecodeEmailContent(dom::object content, const Path& parent, SendRequest& req) {
  dom::object email;
  bool given = false;
  if (auto e = OptionalObject(content, parent, "email", email, given)) return e;
  if (!given) return std::nullopt;
  const Path path = parent.Child("email");
  std::string_view from, subject, html, text, unsubscribe_url;
  if (auto e = RequiredString(email, path, "from", from)) return e;
  if (auto e = EmailFrom(path.Child("from"), from)) return e;
  if (auto e = RequiredString(email, path, "subject", subject)) return e;
  const Path subject_path = path.Child("subject");
  if (subject.empty()) return Fail(subject_path, "empty", "must not be empty");
  if (subject.size() > kMaxEmailSubjectBytes) {
    return Fail(
        subject_path, "max_length",
        fmt::format("must be at most {} bytes, got {}", kMaxEmailSubjectBytes, subject.size()));
  }
  if (HasLineBreak(subject)) return Fail(subject_path, "header", "must not contain CR or LF");
  if (auto e = OptionalString(email, path, "html", html)) return e;
  if (auto e = OptionalString(email, path, "text", text)) return e;
  if (html.empty() && text.empty()) {
    return Fail(path, "required", "needs html or text (or both)");
  }
  bool has_unsubscribe = false;
  if (auto e = OptionalString(email, path, "unsubscribe_url", unsubscribe_url, &has_unsubscribe)) {
    return e;
  }
  if (has_unsubscribe) {
    if (auto e = UnsubscribeUrl(path.Child("unsubscribe_url"), unsubscribe_url)) return e;
  }
  auto& out = req.email.emplace();
  out.from.assign(from);
  out.subject.assign(subject);
  out.html.assign(html);
  out.text.assign(text);
  out.unsubscribe_url.assign(unsubscribe_url);
  return std::nullopt;
}

Check DecodeWebPushContent(dom::object content, const Path& parent, SendRequest& req,
                           std::string& scratch) {
  dom::object push;
  bool given = false;
  if (auto e = OptionalObject(content, parent, "webpush", push, given)) return e;
  if (!given) return std::nullopt;
  const Path path = parent.Child("webpush");
  std::string_view title, body, url, icon, urgency, topic;
  if (auto e = RequiredString(push, path, "title", title)) return e;
  if (title.empty()) return Fail(path.Child("title"), "empty", "must not be empty");
  if (auto e = MaxLength(path.Child("title"), title, kMaxWebPushTitle)) return e;
  if (auto e = OptionalString(push, path, "body", body)) return e;
  if (auto e = OptionalHttpsUrl(push, path, "url", url)) return e;
  if (auto e = OptionalHttpsUrl(push, path, "icon", icon)) return e;
  milliseconds ttl{24 * 3600 * 1000};
  if (auto e = OptionalDuration(push, path, "ttl", milliseconds{0}, false, kMaxWebPushTtl, ttl)) {
    return e;
  }
  Urgency urgency_value = Urgency::normal;
  bool has_urgency = false;
  if (auto e = OptionalString(push, path, "urgency", urgency, &has_urgency)) return e;
  if (has_urgency) {
    if (urgency == "very-low") {
      urgency_value = Urgency::very_low;
    } else if (urgency == "low") {
      urgency_value = Urgency::low;
    } else if (urgency == "normal") {
      urgency_value = Urgency::normal;
    } else if (urgency == "high") {
      urgency_value = Urgency::high;
    } else {
      return EnumError(path.Child("urgency"), "very-low, low, normal, high");
    }
  }
  bool has_topic = false;
  if (auto e = OptionalBoundedString(push, path, "topic", kMaxWebPushTopic, topic, &has_topic)) {
    return e;
  }
  if (has_topic &&
      !std::all_of(topic.begin(), topic.end(), [](char c) { return Base64UrlValue(c) >= 0; })) {
    return Fail(path.Child("topic"), "base64url",
                "must use the base64url alphabet (A-Z a-z 0-9 - _), RFC 8030 §5.4");
  }
  // The exact plaintext the web-push adapter encrypts: all four keys, always,
  // so the limit does not depend on which optional fields are given.
  scratch.clear();
  scratch += "{\"title\":";
  AppendJsonString(title, scratch);
  scratch += ",\"body\":";
  AppendJsonString(body, scratch);
  scratch += ",\"url\":";
  AppendJsonString(url, scratch);
  scratch += ",\"icon\":";
  AppendJsonString(icon, scratch);
  scratch += "}";
  if (scratch.size() > kMaxWebPushPayloadBytes) {
    return Fail(path, "max_length",
                fmt::format("the encrypted payload {{title, body, url, icon}} must be at most {} "
                            "bytes as JSON, got {}",
                            kMaxWebPushPayloadBytes, scratch.size()));
  }
  auto& out = req.webpush.emplace();
  out.title.assign(title);
  out.body.assign(body);
  out.url.assign(url);
  out.icon.assign(icon);
  out.ttl = ttl;
  out.urgency = urgency_value;
  out.topic.assign(topic);
  out.payload = scratch;
  return std::nullopt;
}

Check DecodeContent(dom::object root, SendRequest& req, std::string& scratch) {
  dom::object content;
  bool given = false;
  if (auto e = OptionalObject(root, Path(), "content", content, given)) return e;
  if (!given) return std::nullopt;
  const Path path("content");
  if (auto e = DecodeSmsContent(content, path, req)) return e;
  if (auto e = DecodeViberContent(content, path, req)) return e;
  if (auto e = DecodeEmailContent(content, path, req)) return e;
  return DecodeWebPushContent(content, path, req, scratch);
}

Check CheckChannelsAreComplete(const SendRequest& req) {
  for (const Channel channel : req.channels) {
    bool has_address = false;
    bool has_content = false;
    std::string_view address_field;
    switch (channel) {
      case Channel::email:
        has_address = !req.to.email.empty();
        has_content = req.email.has_value();
        address_field = "email";
        break;
      case Channel::sms:
        has_address = !req.to.phone.empty();
        has_content = req.sms.has_value();
        address_field = "phone";
        break;
      case Channel::viber:
        has_address = !req.to.viber.empty();
        has_content = req.viber.has_value();
        address_field = "viber";
        break;
      case Channel::webpush:
        has_address = req.to.webpush.has_value();
        has_content = req.webpush.has_value();
        address_field = "webpush";
        break;
    }
    if (!has_address) {
      return Fail(Path("to").Child(address_field), "missing_address",
                  fmt::format("channel {} is listed but to.{} is not given", ToString(channel),
                              address_field));
    }
    if (!has_content) {
      return Fail(Path("content").Child(ToString(channel)), "missing_content",
                  fmt::format("channel {} is listed but content.{} is not given", ToString(channel),
                              ToString(channel)));
    }
  }
  return std::nullopt;
}

Check DecodeCascade(dom::object root, SendRequest& req) {
  dom::object cascade;
  bool given = false;
  if (auto e = OptionalObject(root, Path(), "cascade", cascade, given)) return e;
  if (!given) return std::nullopt;
  const Path parent("cascade");
  for (const dom::key_value_pair member : cascade) {
    if (member.value.is_null()) continue;  // as everywhere, null is absent
    const Path path = parent.Child(member.key);
    const auto channel = ChannelFromString(member.key);
    const auto listed = channel ? std::find(req.channels.begin(), req.channels.end(), *channel)
                                : req.channels.end();
    if (listed == req.channels.end()) {
      std::string accepted;
      for (const Channel c : req.channels) {
        if (!accepted.empty()) accepted += ", ";
        accepted += ToString(c);
      }
      return Fail(path, "enum", fmt::format("must be one of the listed channels: {}", accepted));
    }
    if (listed + 1 == req.channels.end()) {
      return Fail(path, "order",
                  fmt::format("{} is the last channel; there is no next channel to cascade to",
                              member.key));
    }
    dom::object step_object;
    if (member.value.get(step_object) != simdjson::SUCCESS) {
      return TypeError(path, "object", member.value);
    }
    CascadeStep step;
    std::string_view wait_for;
    bool has_wait_for = false;
    if (auto e = OptionalString(step_object, path, "wait_for", wait_for, &has_wait_for)) return e;
    if (has_wait_for) {
      if (wait_for == "sent") {
        step.wait_for = WaitFor::sent;
      } else if (wait_for == "delivered") {
        step.wait_for = WaitFor::delivered;
      } else if (wait_for == "read") {
        step.wait_for = WaitFor::read;
      } else {
        return EnumError(path.Child("wait_for"), "sent, delivered, read");
      }
    }
    if (auto e = OptionalDuration(step_object, path, "timeout", milliseconds{0}, true,
                                  kMaxCascadeTimeout, step.timeout)) {
      return e;
    }
    req.cascade[static_cast<std::size_t>(*channel)] = step;
  }
  return std::nullopt;
}

Check DecodeSchedule(dom::object root, SendRequest& req) {
  if (auto e = OptionalTimestamp(root, "send_at", req.send_at)) return e;
  if (auto e = OptionalTimestamp(root, "expires_at", req.expires_at)) return e;
  if (req.send_at && req.expires_at && *req.expires_at <= *req.send_at) {
    return Fail(Path("expires_at"), "order", "must be after send_at");
  }
  return std::nullopt;
}

Check DecodeCampaignAndTags(dom::object root, SendRequest& req) {
  std::string_view campaign;
  bool given = false;
  // An empty campaign is the same as none: events write both as null.
  if (auto e = OptionalString(root, Path(), "campaign", campaign, &given)) return e;
  if (given) {
    if (auto e = MaxLength(Path("campaign"), campaign, kMaxCampaignLength)) return e;
    req.campaign.assign(campaign);
  }
  dom::element value;
  if (!Given(root, "tags", value)) return std::nullopt;
  const Path path("tags");
  dom::array tags;
  if (value.get(tags) != simdjson::SUCCESS) return TypeError(path, "array", value);
  const std::size_t count = tags.size();
  if (count > kMaxTags) {
    return Fail(path, "max_length",
                fmt::format("must have at most {} tags, got {}", kMaxTags, count));
  }
  req.tags.reserve(count);
  std::size_t i = 0;
  for (dom::element item : tags) {
    std::string_view tag;
    if (item.get(tag) != simdjson::SUCCESS) return TypeError(path.At(i), "string", item);
    if (tag.empty()) return Fail(path.At(i), "empty", "must not be empty");
    if (auto e = MaxLength(path.At(i), tag, kMaxTagLength)) return e;
    req.tags.emplace_back(tag);
    ++i;
  }
  return std::nullopt;
}

}  // namespace

std::string ValidationError::ToString() const {
  if (field.empty()) return fmt::format("{}: {}", rule, detail);
  return fmt::format("{}: {}: {}", field, rule, detail);
}

// Owns the simdjson parser (its tape and string buffers grow to the largest
// request seen and are reused) and a padded copy of the input: Kafka payloads
// end where librdkafka's buffer ends, and simdjson reads up to
// SIMDJSON_PADDING bytes past the end.
class RequestDecoder::Impl {
 public:
  Result<SendRequest, ValidationError> Decode(std::string_view bytes, Lane default_lane) {
    if (bytes.size() > kMaxRequestBytes) {
      return MakeUnexpected(Fail(
          Path(), "max_length",
          fmt::format("request is {} bytes; the limit is {}", bytes.size(), kMaxRequestBytes)));
    }
    dom::element root_value;
    const simdjson::error_code error = Parse(bytes).get(root_value);
    if (error == simdjson::UTF8_ERROR) {
      return MakeUnexpected(Fail(Path(), "utf8", "request body is not valid UTF-8"));
    }
    if (error != simdjson::SUCCESS) {
      return MakeUnexpected(
          Fail(Path(), "json", fmt::format("invalid JSON: {}", simdjson::error_message(error))));
    }
    dom::object root;
    if (root_value.get(root) != simdjson::SUCCESS) {
      return MakeUnexpected(TypeError(Path(), "object", root_value));
    }
    if (auto e = DuplicateKeys(root_value, Path(), 0)) return MakeUnexpected(std::move(*e));
    SendRequest req;
    req.lane = default_lane;
    if (auto e = DecodeAll(root, req)) return MakeUnexpected(std::move(*e));
    return req;
  }

 private:
  // RFC 8259 leaves repeated keys to the parser: simdjson finds the first,
  // most validators upstream keep the last, so one request would mean two
  // things. Refused anywhere in the document. Small objects are compared
  // pairwise; large ones sorted, so that a crafted object of 40,000 keys costs
  // n log n, not n².
  Check DuplicateKeys(dom::element value, const Path& path, int depth) {
    constexpr int kMaxDepth = 64;  // deeper nesting only ever holds ignored fields
    if (depth > kMaxDepth) return std::nullopt;
    dom::array array;
    if (value.get(array) == simdjson::SUCCESS) {
      std::size_t i = 0;
      for (dom::element item : array) {
        if (auto e = DuplicateKeys(item, path.At(i++), depth + 1)) return e;
      }
      return std::nullopt;
    }
    dom::object object;
    if (value.get(object) != simdjson::SUCCESS) return std::nullopt;
    const std::size_t n = object.size();
    if (n > 1 && n <= 16) {
      std::array<std::string_view, 16> keys;
      std::size_t k = 0;
      for (const auto member : object) {
        for (std::size_t j = 0; j < k; ++j) {
          if (keys[j] == member.key) return RepeatedKey(path, member.key);
        }
        keys[k++] = member.key;
      }
    } else if (n > 16) {
      std::vector<std::string_view>& keys = key_scratch_;
      keys.clear();
      for (const auto member : object) keys.push_back(member.key);
      std::sort(keys.begin(), keys.end());
      const auto dup = std::adjacent_find(keys.begin(), keys.end());
      if (dup != keys.end()) {
        const std::string_view key = *dup;
        return RepeatedKey(path, key);
      }
    }
    for (const auto member : object) {
      if (auto e = DuplicateKeys(member.value, path.Child(member.key), depth + 1)) return e;
    }
    return std::nullopt;
  }

  static ValidationError RepeatedKey(const Path& path, std::string_view key) {
    const std::string where = path.ToString();
    return Fail(path.Child(key), "duplicate_key",
                fmt::format("key \"{}\" appears more than once in {}", key,
                            where.empty() ? "the request" : where));
  }

  simdjson::simdjson_result<dom::element> Parse(std::string_view bytes) {
    const std::size_t needed = bytes.size() + simdjson::SIMDJSON_PADDING;
    if (needed > capacity_) {
      capacity_ = std::max(needed, capacity_ * 2);
      buffer_ = std::make_unique<char[]>(capacity_);
    }
    if (!bytes.empty()) std::memcpy(buffer_.get(), bytes.data(), bytes.size());
    // simdjson never interprets the padding, but reading stale bytes there
    // would make runs differ under memory checkers.
    std::memset(buffer_.get() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser_.parse(buffer_.get(), bytes.size(), /*realloc_if_needed=*/false);
  }

  Check DecodeAll(dom::object root, SendRequest& req) {
    if (auto e = DecodeVersion(root)) return e;
    if (auto e = DecodeId(root, req)) return e;
    if (auto e = DecodeTenant(root, req)) return e;
    if (auto e = DecodeLane(root, req)) return e;
    if (auto e = DecodeRecipient(root, req)) return e;
    if (auto e = DecodeChannels(root, req)) return e;
    if (auto e = DecodeContent(root, req, payload_scratch_)) return e;
    if (auto e = CheckChannelsAreComplete(req)) return e;
    if (auto e = DecodeCascade(root, req)) return e;
    if (auto e = DecodeSchedule(root, req)) return e;
    return DecodeCampaignAndTags(root, req);
  }

  simdjson::dom::parser parser_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::vector<std::string_view> key_scratch_;  // DuplicateKeys, large objects
  std::string payload_scratch_;  // the web-push plaintext, serialized to measure it
};

RequestDecoder::RequestDecoder() : impl_(std::make_unique<Impl>()) {}
RequestDecoder::~RequestDecoder() = default;

Result<SendRequest, ValidationError> RequestDecoder::Decode(std::string_view bytes,
                                                            Lane default_lane) {
  return impl_->Decode(bytes, default_lane);
}

}  // namespace omnigate::gateway
