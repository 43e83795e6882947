// The suppressions and consents API (DESIGN.md §6; for users, docs/api.md).
//
// A POST or DELETE body is one JSON object or NDJSON. Each line is checked
// on its own, in a fixed order (object, known fields and their types, tenant,
// channel, address, then for POST reason, source, expiry), and the first
// failure is that line's error; good lines are written all the same, in
// batches of kAddressApiBatchOps ops per store round trip. Nothing claims
// success that the store did not confirm: a batch the store refuses ends the
// request with 503 and says how many lines were stored before it.

#include "gateway/address_api.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/json.h"
#include "common/mask.h"
#include "common/text.h"
#include "gateway/event.h"
#include "gateway/policy/policy.h"
#include "gateway/request.h"

namespace omnigate::gateway {
namespace {

namespace dom = simdjson::dom;
using state::Family;
using state::Op;
using state::StoreStatus;
using std::chrono::milliseconds;
using std::chrono::system_clock;

constexpr std::size_t kMaxTenantLength = 64;  // as in send requests
constexpr std::size_t kMaxAddressBytes = 2048;
constexpr std::size_t kMaxTextLength = 256;  // reason, source; in code points
// system_clock ends in 2262: a longer ttl would overflow it.
constexpr milliseconds kMaxTtl{36'500LL * 24 * 3600 * 1000};
constexpr std::string_view kChannelValues = "email, sms, viber, webpush, all";
constexpr std::string_view kFieldNames =
    "tenant, address, channel, reason, source, expires_at, ttl";
constexpr std::string_view kQueryNames = "tenant, address, channel";

// The two books the API keeps, one per route.
struct Book {
  Family family;
  std::string_view path;
  std::string_view noun;
  bool source_required;  // a consent's source is its proof
};
constexpr Book kSuppressions{Family::suppression, "/v1/suppressions", "suppression", false};
constexpr Book kConsents{Family::consent, "/v1/consents", "consent", true};

// What an address is decides which channels a record can apply to: sms and
// viber both send to the phone number, so one all-channels record on a phone
// covers both (the policy reads "<tenant>|<phone>|*" for either).
enum class AddressKind : std::uint8_t { phone, email, webpush };

AddressKind KindOf(Channel c) {
  switch (c) {
    case Channel::sms:
    case Channel::viber:
      return AddressKind::phone;
    case Channel::email:
      return AddressKind::email;
    case Channel::webpush:
      return AddressKind::webpush;
  }
  return AddressKind::phone;
}

std::span<const Channel> ChannelsOf(AddressKind k) {
  static constexpr std::array<Channel, 2> kPhone{Channel::sms, Channel::viber};
  static constexpr std::array<Channel, 1> kEmail{Channel::email};
  static constexpr std::array<Channel, 1> kWebPush{Channel::webpush};
  switch (k) {
    case AddressKind::phone:
      return kPhone;
    case AddressKind::email:
      return kEmail;
    case AddressKind::webpush:
      return kWebPush;
  }
  return kPhone;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreAsciiCase(s.substr(0, prefix.size()), prefix);
}

// Without a channel the address says what it is. http:// counts as web push
// so that the error is about the scheme, not about a malformed phone number.
AddressKind InferKind(std::string_view address) {
  if (StartsWithIgnoreCase(address, "https://") || StartsWithIgnoreCase(address, "http://")) {
    return AddressKind::webpush;
  }
  if (address.find('@') != std::string_view::npos) return AddressKind::email;
  return AddressKind::phone;
}

std::string_view InferenceNote(AddressKind k) {
  switch (k) {
    case AddressKind::phone:
      return "read as a phone number (no '@', not an https:// endpoint)";
    case AddressKind::email:
      return "read as an email address (it has an '@')";
    case AddressKind::webpush:
      return "read as a web-push endpoint (it starts with http)";
  }
  return "";
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// simdjson has validated the UTF-8: every byte that is not a continuation
// byte starts a code point.
std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::int64_t EpochMs(system_clock::time_point t) {
  return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
}

// The fields of one line or query string as given: views into the parsed
// line or the decoded query. JSON null counts as absent.
struct Fields {
  std::optional<std::string_view> tenant, address, channel, reason, source, expires_at, ttl;
};

std::optional<std::string_view>* FieldSlot(Fields& f, std::string_view name) {
  if (name == "tenant") return &f.tenant;
  if (name == "address") return &f.address;
  if (name == "channel") return &f.channel;
  if (name == "reason") return &f.reason;
  if (name == "source") return &f.source;
  if (name == "expires_at") return &f.expires_at;
  if (name == "ttl") return &f.ttl;
  return nullptr;
}

struct FieldError {
  std::string field;  // empty: the line as a whole
  std::string error;
};

// Unknown fields are refused rather than ignored: a misspelt "chanel" on a
// DELETE would otherwise widen it to every channel and lift an opt-out.
std::optional<FieldError> ParseLine(dom::parser& parser, std::string_view text, Fields& out) {
  dom::element doc;
  if (const auto err = parser.parse(text.data(), text.size()).get(doc); err != simdjson::SUCCESS) {
    return FieldError{"", fmt::format("not valid JSON ({}); send one object, or one object per "
                                      "line (NDJSON)",
                                      simdjson::error_message(err))};
  }
  dom::object object;
  if (doc.get(object) != simdjson::SUCCESS) {
    return FieldError{
        "", "must be a JSON object, e.g. {\"tenant\":\"shop\",\"address\":\"+40700000001\"}"};
  }
  for (const auto field : object) {
    auto* slot = FieldSlot(out, field.key);
    if (slot == nullptr) {
      return FieldError{std::string(field.key),
                        fmt::format("unknown field; the fields are {}", kFieldNames)};
    }
    if (field.value.is_null()) continue;
    std::string_view s;
    if (field.value.get(s) != simdjson::SUCCESS) {
      return FieldError{std::string(field.key), "must be a string"};
    }
    *slot = s;
  }
  return std::nullopt;
}

// tenant=…&address=…&channel=…, percent-decoded. '+' is a space, as HTML
// forms encode it, except in `address`, where it stays a '+': an email may
// hold one ("ana+news@…") and none holds a space, and a phone's leading '+'
// is the one people forget to encode. ReadSubject turns a phone's other '+'
// back into the spaces a form meant.
std::optional<FieldError> ParseQuery(std::string_view query,
                                     std::map<std::string, std::string, std::less<>>& values,
                                     Fields& out) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const auto name = PercentDecode(pair.substr(0, eq), true);
    if (!name) return FieldError{"", "malformed percent-encoding in a parameter name"};
    std::optional<std::string_view>* slot = nullptr;
    if (*name == "tenant" || *name == "address" || *name == "channel") slot = FieldSlot(out, *name);
    if (slot == nullptr) {
      return FieldError{*name,
                        fmt::format("unknown query parameter; the parameters are {}", kQueryNames)};
    }
    if (values.contains(*name)) return FieldError{*name, "given twice"};
    const auto value =
        PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), *name != "address");
    if (!value) {
      return FieldError{*name, "malformed percent-encoding (a '%' not followed by two hex digits)"};
    }
    const auto& stored = values.emplace(*name, *value).first->second;
    *slot = stored;
  }
  return std::nullopt;
}

// Which records a line or query names.
struct Subject {
  std::string tenant;
  std::string address;  // normalised
  AddressKind kind = AddressKind::phone;
  std::optional<Channel> channel;  // unset: the all-channels record
  bool every_scope = false;        // GET or DELETE without a channel: every record of the address
};

std::vector<std::optional<Channel>> Scopes(const Subject& s) {
  if (!s.every_scope) return {s.channel};
  std::vector<std::optional<Channel>> scopes(ChannelsOf(s.kind).begin(), ChannelsOf(s.kind).end());
  scopes.emplace_back(std::nullopt);
  return scopes;
}

std::string_view ScopeName(std::optional<Channel> c) { return c ? ToString(*c) : "all"; }

// What a request without a channel means: a POST writes the all-channels
// record; GET and DELETE look at every record of the address.
enum class NoChannel : std::uint8_t { all, every_scope };

Result<Subject, FieldError> ReadSubject(const Fields& f, NoChannel no_channel, bool from_query) {
  Subject s;
  if (!f.tenant || f.tenant->empty()) {
    return MakeUnexpected(FieldError{
        "tenant", "required (requests published without a tenant belong to \"default\")"});
  }
  bool tenant_ok = f.tenant->size() <= kMaxTenantLength;
  for (const char c : *f.tenant) {
    tenant_ok = tenant_ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (!tenant_ok) {
    return MakeUnexpected(FieldError{
        "tenant", fmt::format("must be 1 to {} characters A-Z a-z 0-9 . _ -", kMaxTenantLength)});
  }
  s.tenant = *f.tenant;

  if (f.channel && *f.channel != "all") {
    const auto c = ChannelFromString(*f.channel);
    if (!c) {
      return MakeUnexpected(
          FieldError{"channel", fmt::format("must be one of {}", kChannelValues)});
    }
    s.channel = *c;
  } else if (!f.channel) {
    s.every_scope = no_channel == NoChannel::every_scope;
  }

  const std::string_view given = f.address ? Trim(*f.address) : std::string_view();
  if (given.empty()) {
    return MakeUnexpected(
        FieldError{"address", "required: a phone number, an email address or a web-push endpoint"});
  }
  if (given.size() > kMaxAddressBytes) {
    return MakeUnexpected(
        FieldError{"address", fmt::format("longer than {} bytes", kMaxAddressBytes)});
  }
  s.kind = s.channel ? KindOf(*s.channel) : InferKind(given);
  std::string address(given);
  if (from_query && s.kind == AddressKind::phone) {
    // "%2B40+700+000+001" from a form: the '+' after the first digit were spaces.
    bool digit_seen = false;
    for (char& c : address) {
      if (c >= '0' && c <= '9') digit_seen = true;
      if (c == '+' && digit_seen) c = ' ';
    }
  }
  auto normalised =
      policy::NormalizeAddress(s.channel ? *s.channel : ChannelsOf(s.kind).front(), address);
  if (!normalised) {
    return MakeUnexpected(FieldError{
        "address", s.channel ? normalised.error()
                             : fmt::format("{}: {}", InferenceNote(s.kind), normalised.error())});
  }
  s.address = std::move(normalised).value();
  return s;
}

struct Entry {
  policy::AddressRecord record;
  milliseconds ttl{0};  // the store's ttl: the time left until the expiry, 0 = none
};

std::optional<FieldError> CheckText(std::string_view name, std::string_view text) {
  if (CodePoints(text) > kMaxTextLength) {
    return FieldError{std::string(name), fmt::format("at most {} characters", kMaxTextLength)};
  }
  return std::nullopt;
}

Result<Entry, FieldError> ReadRecord(const Fields& f, const Book& book,
                                     system_clock::time_point now) {
  Entry e;
  if (f.reason) {
    if (auto err = CheckText("reason", *f.reason)) return MakeUnexpected(std::move(*err));
    e.record.reason = *f.reason;
  }
  if (book.source_required && (!f.source || IsBlank(*f.source))) {
    return MakeUnexpected(
        FieldError{"source",
                   "required for a consent: where and how the opt-in was given (e.g. "
                   "\"signup-form\", \"double-opt-in\"), kept as its proof"});
  }
  if (f.source) {
    if (auto err = CheckText("source", *f.source)) return MakeUnexpected(std::move(*err));
    e.record.source = *f.source;
  }
  const std::int64_t now_ms = EpochMs(now);
  e.record.created_ms = now_ms;
  if (f.expires_at && f.ttl) {
    return MakeUnexpected(FieldError{"ttl", "give expires_at or ttl, not both"});
  }
  if (f.expires_at) {
    bool out_of_range = false;
    const auto at = ParseRfc3339(*f.expires_at, out_of_range);
    if (!at) {
      return MakeUnexpected(FieldError{
          "expires_at",
          out_of_range ? fmt::format("must be between {}-01-01 and {}-12-31", kMinYear, kMaxYear)
                       : std::string("must be an RFC 3339 date-time with Z or an offset, e.g. "
                                     "2026-11-22T10:00:00Z")});
    }
    const std::int64_t at_ms = EpochMs(*at);
    if (at_ms <= now_ms) {
      return MakeUnexpected(
          FieldError{"expires_at",
                     "is in the past; leave out expires_at and ttl for a record that does "
                     "not expire"});
    }
    e.record.expires_ms = at_ms;
    e.ttl = milliseconds(at_ms - now_ms);
  } else if (f.ttl) {
    const auto ttl = ParseDuration(*f.ttl);
    if (!ttl) {
      return MakeUnexpected(
          FieldError{"ttl", "must be an integer with a unit ms, s, m, h or d, e.g. \"30d\""});
    }
    if (ttl->count() <= 0) {
      return MakeUnexpected(
          FieldError{"ttl", "must be above 0; leave it out for a record that does not expire"});
    }
    if (*ttl > kMaxTtl) {
      return MakeUnexpected(FieldError{
          "ttl", fmt::format("at most {}; leave it out for a record that does not expire",
                             FormatDuration(kMaxTtl))});
    }
    e.ttl = *ttl;
    e.record.expires_ms = now_ms + ttl->count();
  }
  return e;
}

HttpResponse Json(int status, std::string body) {
  return HttpResponse{status, "application/json", std::move(body)};
}

HttpResponse ErrorResponse(int status, std::string_view field, std::string_view error) {
  std::string body = "{";
  if (!field.empty()) {
    body += "\"field\":";
    AppendJsonString(field, body);
    body += ',';
  }
  body += "\"error\":";
  AppendJsonString(error, body);
  body += '}';
  return Json(status, std::move(body));
}

struct Line {
  std::size_t number;  // 1-based, blank lines counted, as an editor shows them
  std::string_view text;
};

bool IsNdjsonType(const HttpRequest& req) {
  const std::string* type = req.header("content-type");
  if (type == nullptr) return false;
  const std::string_view media = Trim(std::string_view(*type).substr(0, type->find(';')));
  return EqualsIgnoreAsciiCase(media, "application/x-ndjson") ||
         EqualsIgnoreAsciiCase(media, "application/jsonl") ||
         EqualsIgnoreAsciiCase(media, "application/jsonlines");
}

// The documents of a body: its non-blank lines when it is NDJSON, else the
// whole body as line 1. Several lines sent as plain JSON (curl's default
// type) are NDJSON when the first line is a document of its own; otherwise
// they are one pretty-printed object, whose syntax error is reported once.
Result<std::vector<Line>, HttpResponse> SplitBody(const HttpRequest& req, dom::parser& parser) {
  std::string_view body = req.body;
  // Spreadsheet exports often start with a byte-order mark.
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  if (IsBlank(body)) {
    return MakeUnexpected(ErrorResponse(
        400, "", "empty body: send one JSON object, or NDJSON (one object per line)"));
  }
  std::vector<Line> lines;
  std::size_t number = 0;
  for (std::size_t pos = 0; pos < body.size();) {
    auto end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view text = body.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (IsBlank(text)) continue;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (lines.size() == kAddressApiMaxLines) {
      return MakeUnexpected(ErrorResponse(
          413, "",
          fmt::format("more than {} records in one request; split the import into requests of "
                      "at most {} lines (and {} MiB)",
                      kAddressApiMaxLines, kAddressApiMaxLines, kAddressApiMaxBodyBytes >> 20)));
    }
    lines.push_back({number, text});
  }
  if (lines.size() == 1 || IsNdjsonType(req)) return lines;
  dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS) {
    return std::vector<Line>{{lines.front().number, body}};
  }
  if (parser.parse(lines.front().text.data(), lines.front().text.size()).get(doc) ==
      simdjson::SUCCESS) {
    return lines;
  }
  return std::vector<Line>{{lines.front().number, body}};
}

// The per-line errors of one request, the first kAddressApiMaxListedErrors
// listed, the rest counted.
class ErrorList {
 public:
  void Add(std::size_t line, const FieldError& e) {
    ++count_;
    if (count_ > kAddressApiMaxListedErrors) return;
    if (count_ > 1) json_ += ',';
    json_ += fmt::format("{{\"line\":{},\"field\":", line);
    if (e.field.empty()) {
      json_ += "null";
    } else {
      AppendJsonString(e.field, json_);
    }
    json_ += ",\"error\":";
    AppendJsonString(e.error, json_);
    json_ += '}';
  }
  std::size_t count() const { return count_; }
  void AppendTo(std::string& out) const {
    out += ",\"errors\":[";
    out += json_;
    out += ']';
    if (count_ > kAddressApiMaxListedErrors) {
      out += fmt::format(",\"errors_omitted\":{}", count_ - kAddressApiMaxListedErrors);
    }
  }

 private:
  std::size_t count_ = 0;
  std::string json_;
};

// Writes ops kAddressApiBatchOps at a time and counts the lines whose ops
// the store confirmed.
class BatchWriter {
 public:
  explicit BatchWriter(state::BlockingStore& store) : store_(store) {}
  void Add(Op op) { ops_.push_back(std::move(op)); }
  // Closes a line's ops. False when a batch was due and the store refused it.
  bool EndLine() {
    ++pending_lines_;
    return ops_.size() < kAddressApiBatchOps || Flush();
  }
  bool Flush() {
    if (ops_.empty()) return true;
    if (store_.Run(ops_) != StoreStatus::ok) return false;
    for (const Op& op : ops_) found_ += op.found ? 1 : 0;
    stored_lines_ += pending_lines_;
    pending_lines_ = 0;
    ops_.clear();
    return true;
  }
  std::size_t stored_lines() const { return stored_lines_; }
  std::size_t found() const { return found_; }

 private:
  state::BlockingStore& store_;
  std::vector<Op> ops_;
  std::size_t pending_lines_ = 0;
  std::size_t stored_lines_ = 0;
  std::size_t found_ = 0;
};

// One book's handlers. Lives as long as the server's routes hold it; runs on
// the server's thread only.
class AddressApi {
 public:
  AddressApi(const Book& book, state::BlockingStore& store, const Clock& clock)
      : book_(book), store_(store), clock_(clock) {}

  HttpResponse Get(const HttpRequest& req) {
    std::map<std::string, std::string, std::less<>> values;
    Fields fields;
    if (auto err = ParseQuery(req.query, values, fields)) {
      return ErrorResponse(400, err->field, err->error);
    }
    auto subject = ReadSubject(fields, NoChannel::every_scope, true);
    if (!subject) return ErrorResponse(400, subject.error().field, subject.error().error);
    auto scopes = Scopes(*subject);
    // One channel: its own record and the all-channels one, the two the
    // policy reads for it.
    if (!subject->every_scope && subject->channel) scopes.emplace_back(std::nullopt);
    std::vector<Op> ops;
    ops.reserve(scopes.size());
    for (const auto scope : scopes) {
      ops.push_back({.type = Op::Type::get,
                     .family = book_.family,
                     .key = policy::AddressKey(subject->tenant, subject->address, scope)});
    }
    if (store_.Run(ops) != StoreStatus::ok)
      return Unavailable(req, std::nullopt, "nothing was read");
    std::string body = "{\"tenant\":";
    AppendJsonString(subject->tenant, body);
    body += ",\"address\":";
    AppendJsonString(subject->address, body);
    body += ",\"records\":[";
    bool first = true;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (!ops[i].found) continue;
      // A value this API did not write shows what it can: its channel.
      const auto record =
          policy::DecodeAddressRecord(ops[i].result).value_or(policy::AddressRecord{});
      if (!first) body += ',';
      first = false;
      body += "{\"channel\":";
      AppendJsonString(ScopeName(scopes[i]), body);
      body += ",\"reason\":";
      AppendJsonString(record.reason, body);
      body += ",\"source\":";
      AppendJsonString(record.source, body);
      AppendTime(",\"created_at\":", record.created_ms, body);
      AppendTime(",\"expires_at\":", record.expires_ms, body);
      body += '}';
    }
    body += "]}";
    return Json(200, std::move(body));
  }

  HttpResponse Post(const HttpRequest& req) {
    dom::parser parser;
    auto lines = SplitBody(req, parser);
    if (!lines) return std::move(lines.error());
    const auto now = clock_.Now();
    ErrorList errors;
    BatchWriter writer(store_);
    std::string masked;  // the one address of a single-record request, for the log
    for (const Line& line : *lines) {
      Fields fields;
      if (auto err = ParseLine(parser, line.text, fields)) {
        errors.Add(line.number, *err);
        continue;
      }
      auto subject = ReadSubject(fields, NoChannel::all, false);
      if (!subject) {
        errors.Add(line.number, subject.error());
        continue;
      }
      auto entry = ReadRecord(fields, book_, now);
      if (!entry) {
        errors.Add(line.number, entry.error());
        continue;
      }
      if (lines->size() == 1) masked = Describe(*subject);
      writer.Add({.type = Op::Type::put,
                  .family = book_.family,
                  .key = policy::AddressKey(subject->tenant, subject->address, subject->channel),
                  .value = policy::EncodeAddressRecord(entry->record),
                  .ttl = entry->ttl});
      if (!writer.EndLine())
        return Unavailable(req, writer.stored_lines(), "", Stored("applied", writer, errors));
    }
    if (!writer.Flush())
      return Unavailable(req, writer.stored_lines(), "", Stored("applied", writer, errors));
    spdlog::info("api: {} {}: {} stored{}, {} line(s) refused", req.method, book_.path,
                 writer.stored_lines(), masked, errors.count());
    std::string body = fmt::format("{{\"applied\":{}", writer.stored_lines());
    errors.AppendTo(body);
    body += '}';
    return Json(writer.stored_lines() == 0 ? 400 : 200, std::move(body));
  }

  HttpResponse Delete(const HttpRequest& req) {
    if (!req.query.empty()) {
      if (!IsBlank(req.body)) {
        return ErrorResponse(400, "", "give the address in the query or in the body, not both");
      }
      return DeleteOne(req);
    }
    if (IsBlank(req.body)) {
      return ErrorResponse(400, "",
                           "give tenant and address as query parameters (?tenant=…&address=…) "
                           "or in the body (one JSON object, or NDJSON)");
    }
    dom::parser parser;
    auto lines = SplitBody(req, parser);
    if (!lines) return std::move(lines.error());
    ErrorList errors;
    BatchWriter writer(store_);
    std::string masked;
    for (const Line& line : *lines) {
      Fields fields;
      if (auto err = ParseLine(parser, line.text, fields)) {
        errors.Add(line.number, *err);
        continue;
      }
      // reason, source and the expiry are ignored, so that the file an
      // import was made from can undo it as it is.
      auto subject = ReadSubject(fields, NoChannel::every_scope, false);
      if (!subject) {
        errors.Add(line.number, subject.error());
        continue;
      }
      if (lines->size() == 1) masked = Describe(*subject);
      AddErases(*subject, writer);
      if (!writer.EndLine())
        return Unavailable(req, writer.stored_lines(), "", Stored("deleted", writer, errors));
    }
    if (!writer.Flush())
      return Unavailable(req, writer.stored_lines(), "", Stored("deleted", writer, errors));
    spdlog::info("api: {} {}: {} record(s) deleted{}, {} line(s) refused", req.method, book_.path,
                 writer.found(), masked, errors.count());
    std::string body = fmt::format("{{\"deleted\":{}", writer.found());
    errors.AppendTo(body);
    body += '}';
    return Json(writer.stored_lines() == 0 ? 400 : 200, std::move(body));
  }

 private:
  HttpResponse DeleteOne(const HttpRequest& req) {
    std::map<std::string, std::string, std::less<>> values;
    Fields fields;
    if (auto err = ParseQuery(req.query, values, fields)) {
      return ErrorResponse(400, err->field, err->error);
    }
    auto subject = ReadSubject(fields, NoChannel::every_scope, true);
    if (!subject) return ErrorResponse(400, subject.error().field, subject.error().error);
    BatchWriter writer(store_);
    AddErases(*subject, writer);
    if (!writer.EndLine() || !writer.Flush()) {
      return Unavailable(req, std::nullopt, "the record may or may not have been deleted");
    }
    spdlog::info("api: {} {}: {} record(s) deleted{}", req.method, book_.path, writer.found(),
                 Describe(*subject));
    return Json(200, fmt::format("{{\"deleted\":{}}}", writer.found()));
  }

  void AddErases(const Subject& s, BatchWriter& writer) const {
    for (const auto scope : Scopes(s)) {
      writer.Add({.type = Op::Type::erase,
                  .family = book_.family,
                  .key = policy::AddressKey(s.tenant, s.address, scope)});
    }
  }

  // For the log: never the address in clear (DESIGN.md §8).
  std::string Describe(const Subject& s) const {
    return fmt::format(" ({} {} of tenant {}, {})", book_.noun, MaskAddress(s.address), s.tenant,
                       s.every_scope ? "every channel" : ScopeName(s.channel));
  }

  // What a request that stopped at a refused batch had done: what the store
  // confirmed, and the line errors found up to there.
  static std::string Stored(std::string_view count_name, const BatchWriter& writer,
                            const ErrorList& errors) {
    std::string out = fmt::format(",\"{}\":{}", count_name,
                                  count_name == "deleted" ? writer.found() : writer.stored_lines());
    errors.AppendTo(out);
    return out;
  }

  // 503: nothing claims success that the store did not confirm. `lines_done`
  // is set for a body of lines, some of which may have been written.
  HttpResponse Unavailable(const HttpRequest& req, std::optional<std::size_t> lines_done,
                           std::string_view single, const std::string& extra = "") {
    spdlog::warn("api: {} {}: the state store ({}) is unavailable; answered 503", req.method,
                 book_.path, store_.backend());
    std::string message = fmt::format("state store ({}) unavailable", store_.backend());
    if (lines_done) {
      message += fmt::format(
          " after the first {} line(s) were stored; the rest may or may not have been: send the "
          "whole request again once /readyz reports the store reachable (writing or deleting a "
          "record twice is harmless)",
          *lines_done);
    } else {
      message += fmt::format(": {}; try again once /readyz reports the store reachable", single);
    }
    std::string body = "{\"error\":";
    AppendJsonString(message, body);
    body += extra;
    body += '}';
    return Json(503, std::move(body));
  }

  static void AppendTime(std::string_view name, std::int64_t ms, std::string& out) {
    out += name;
    if (ms == 0) {
      out += "null";
      return;
    }
    out += '"';
    AppendTimestamp(system_clock::time_point(milliseconds(ms)), out);
    out += '"';
  }

  const Book& book_;
  state::BlockingStore& store_;
  const Clock& clock_;
};

void RegisterBook(HttpServer& http, const Book& book, state::BlockingStore& store,
                  const Clock& clock) {
  auto api = std::make_shared<AddressApi>(book, store, clock);
  const std::string path(book.path);
  http.Route(
      "GET", path, [api](const HttpRequest& r) { return api->Get(r); }, Access::admin);
  http.Route(
      "POST", path, [api](const HttpRequest& r) { return api->Post(r); }, Access::admin,
      kAddressApiMaxBodyBytes);
  http.Route(
      "DELETE", path, [api](const HttpRequest& r) { return api->Delete(r); }, Access::admin,
      kAddressApiMaxBodyBytes);
}

}  // namespace

void RegisterAddressRoutes(HttpServer& http, state::BlockingStore& store, const Clock& clock) {
  RegisterBook(http, kSuppressions, store, clock);
  RegisterBook(http, kConsents, store, clock);
}

}  // namespace omnigate::gateway
