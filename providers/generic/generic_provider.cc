#include "providers/generic/generic_provider.h"

#include <algorithm>
#include <array>

#include "common/json.h"
#include "providers/twilio/twilio_provider.h"  // AppendFormEncoded

namespace omnigate::providers {

// ---------------------------------------------------------------- templates

enum class MessageTemplate::Field : std::uint8_t {
  id,
  tenant,
  channel,
  attempt,
  to,
  text,
  sender,
  from,
  subject,
  html,
  unsubscribe_url,
  image_url,
  button_caption,
  button_url,
};

namespace {

constexpr std::array<std::string_view, 14> kFieldNames = {
    "id",   "tenant", "channel", "attempt",         "to",        "text",           "sender",
    "from", "subject", "html",   "unsubscribe_url", "image_url", "button_caption", "button_url"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

void AppendPercentEncoded(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

}  // namespace

Result<MessageTemplate, std::string> MessageTemplate::Compile(std::string_view text) {
  return CompileAs(text, false);
}

Result<MessageTemplate, std::string> MessageTemplate::CompileUrl(std::string_view text) {
  auto t = CompileAs(text, true);
  if (!t) return t;
  // The literal text up to the first field: if it does not close the
  // authority, a field can still choose the host (or the scheme).
  std::string_view head;
  if (!t->parts_.empty() && !t->parts_.front().is_field) head = t->parts_.front().literal;
  const bool has_field = std::any_of(t->parts_.begin(), t->parts_.end(),
                                     [](const Part& p) { return p.is_field; });
  const auto scheme = head.find("://");
  t->field_in_authority_ =
      has_field && (scheme == std::string_view::npos ||
                    head.find_first_of("/?#", scheme + 3) == std::string_view::npos);
  return t;
}

std::vector<std::string> MessageTemplate::raw_fields() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) {
    if (p.is_field && p.filter == Filter::none) {
      out.emplace_back(kFieldNames[static_cast<std::size_t>(p.field)]);
    }
  }
  return out;
}

Result<MessageTemplate, std::string> MessageTemplate::CompileAs(std::string_view text, bool url) {
  MessageTemplate t;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("{{", i);
    if (open == std::string_view::npos) {
      t.parts_.push_back({std::string(text.substr(i)), false, {}, Filter::none});
      break;
    }
    if (open > i) t.parts_.push_back({std::string(text.substr(i, open - i)), false, {}, Filter::none});
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return MakeUnexpected("unterminated '{{' at offset " + std::to_string(open));
    }
    std::string_view inner = Trim(text.substr(open + 2, close - open - 2));
    std::string_view filter_name;
    if (const auto bar = inner.find('|'); bar != std::string_view::npos) {
      filter_name = Trim(inner.substr(bar + 1));
      inner = Trim(inner.substr(0, bar));
    }
    Part part;
    part.is_field = true;
    const auto it = std::find(kFieldNames.begin(), kFieldNames.end(), inner);
    if (it == kFieldNames.end()) {
      std::string known;
      for (const auto n : kFieldNames) known += (known.empty() ? "" : ", ") + std::string(n);
      return MakeUnexpected("unknown field '" + std::string(inner) + "' in {{...}}; known: " +
                            known);
    }
    part.field = static_cast<Field>(it - kFieldNames.begin());
    if (url && (filter_name == "none" || filter_name == "json")) {
      return MakeUnexpected("{{" + std::string(inner) + "|" + std::string(filter_name) +
                            "}} does not encode for a URL; write {{" + std::string(inner) +
                            "}} (percent-encoded) or, if the value must go in unencoded, {{" +
                            std::string(inner) + "|raw}}");
    }
    if (url && (filter_name.empty() || filter_name == "url")) {
      part.filter = Filter::url;
    } else if (filter_name.empty() || filter_name == "none" || filter_name == "raw") {
      part.filter = Filter::none;
    } else if (filter_name == "json") {
      part.filter = Filter::json;
    } else if (filter_name == "url") {
      part.filter = Filter::url;
    } else if (filter_name == "form") {
      part.filter = Filter::form;
    } else {
      return MakeUnexpected("unknown filter '" + std::string(filter_name) +
                            "'; known: json, url, form, none, raw");
    }
    t.parts_.push_back(std::move(part));
    i = close + 2;
  }
  return t;
}

std::string_view MessageTemplate::Value(const OutboundMessage& m, Field f, std::string& scratch) {
  const bool email = m.channel == Channel::email;
  const bool viber = m.channel == Channel::viber;
  switch (f) {
    case Field::id: return m.request_id;
    case Field::tenant: return m.tenant;
    case Field::channel: return ToString(m.channel);
    case Field::attempt:
      scratch = std::to_string(m.attempt);
      return scratch;
    case Field::to:
      return email ? m.email.to : viber ? m.viber.to : m.channel == Channel::webpush ? m.webpush.endpoint : m.sms.to;
    case Field::text: return email ? m.email.text : viber ? m.viber.text : m.sms.text;
    case Field::sender: return m.sms.sender;
    case Field::from: return m.email.from;
    case Field::subject: return m.email.subject;
    case Field::html: return m.email.html;
    case Field::unsubscribe_url: return m.email.unsubscribe_url;
    case Field::image_url: return m.viber.image_url;
    case Field::button_caption: return m.viber.button_caption;
    case Field::button_url: return m.viber.button_url;
  }
  return {};
}

void MessageTemplate::Render(const OutboundMessage& message, std::string& out) const {
  std::string scratch;
  for (const Part& p : parts_) {
    if (!p.is_field) {
      out += p.literal;
      continue;
    }
    const std::string_view v = Value(message, p.field, scratch);
    switch (p.filter) {
      case Filter::none: out += v; break;
      case Filter::json: AppendJsonString(v, out); break;
      case Filter::url: AppendPercentEncoded(v, out); break;
      case Filter::form: AppendFormEncoded(v, out); break;
    }
  }
}

// ----------------------------------------------------------------- compile

Result<std::shared_ptr<const CompiledGenericHttp>, std::vector<std::string>>
CompiledGenericHttp::Compile(GenericHttpConfig config) {
  auto c = std::make_shared<CompiledGenericHttp>();
  std::vector<std::string> errors;
  auto compile_template = [&](const std::string& key, const std::string& text,
                              MessageTemplate& out) {
    auto t = MessageTemplate::Compile(text);
    if (!t) {
      errors.push_back(key + ": " + t.error());
    } else {
      out = *std::move(t);
    }
  };
  auto compile_regex = [&](const std::string& key, const std::string& text,
                           std::optional<std::regex>& out) {
    if (text.empty()) return;
    try {
      out.emplace(text, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      errors.push_back(key + ": invalid regular expression: " + e.what());
    }
  };
  if (auto t = MessageTemplate::CompileUrl(config.url); !t) {
    errors.push_back("url: " + t.error());
  } else {
    c->url = *std::move(t);
  }
  for (const auto& [name, value] : config.headers) {
    MessageTemplate t;
    compile_template("headers." + name, value, t);
    c->headers.emplace_back(name, std::move(t));
  }
  compile_template("body", config.body, c->body);
  compile_regex("success.regex", config.success_regex, c->success_regex);
  compile_regex("message_id.regex", config.message_id_regex, c->message_id_regex);
  compile_regex("invalid_address_regex", config.invalid_address_regex,
                c->invalid_address_regex);
  if (c->message_id_regex && c->message_id_regex->mark_count() < 1) {
    errors.push_back("message_id.regex: needs a capture group: the id is its first group");
  }
  if (!config.success_json_pointer.empty() && config.success_json_pointer.front() != '/') {
    errors.push_back("success.json_pointer: must start with '/' (RFC 6901)");
  }
  if (!config.message_id_json_pointer.empty() && config.message_id_json_pointer.front() != '/') {
    errors.push_back("message_id.json_pointer: must start with '/' (RFC 6901)");
  }
  if (!errors.empty()) return MakeUnexpected(std::move(errors));
  c->config = std::move(config);
  return std::shared_ptr<const CompiledGenericHttp>(std::move(c));
}

// ---------------------------------------------------------------- provider

namespace {

// Regexes run over at most this much of a body: aggregator answers are small,
// and libstdc++'s matcher recurses per character, so a pattern like ".*" over
// a megabyte error page could exhaust the stack.
constexpr std::size_t kMaxRegexInput = 8 * 1024;

std::string_view RegexInput(const std::string& body) {
  return std::string_view(body).substr(0, kMaxRegexInput);
}

bool Search(std::string_view text, const std::regex& re) {
  return std::regex_search(text.begin(), text.end(), re);
}

// The JSON value at `pointer` as text: strings as they are, numbers and
// booleans in their JSON spelling. nullopt when the body is not JSON or the
// pointer finds nothing.
std::optional<std::string> ValueAtPointer(std::string_view body, const std::string& pointer) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::dom::element v;
  if (doc.at_pointer(pointer).get(v) != simdjson::SUCCESS) return std::nullopt;
  std::string_view s;
  if (v.get(s) == simdjson::SUCCESS) return std::string(s);
  if (v.is_null()) return std::nullopt;
  return simdjson::minify(v);
}

}  // namespace

GenericHttpProvider::GenericHttpProvider(std::string name,
                                         std::shared_ptr<const CompiledGenericHttp> compiled,
                                         http::Transport& transport, std::size_t max_in_flight)
    : name_(std::move(name)),
      compiled_(std::move(compiled)),
      dispatcher_(name_, "HTTP", transport, max_in_flight) {}

http::Request GenericHttpProvider::BuildRequest(const CompiledGenericHttp& c,
                                                const OutboundMessage& message) {
  http::Request req;
  const std::string& m = c.config.method;
  req.method = m == "GET" ? http::Method::get : m == "PUT" ? http::Method::put : http::Method::post;
  c.url.Render(message, req.url);
  req.untrusted_destination = c.url.field_in_authority();
  req.headers.reserve(c.headers.size());
  for (const auto& [name, value] : c.headers) {
    std::string line = name + ": ";
    value.Render(message, line);
    // A CR or LF from message content would start a header of its own; a NUL
    // would cut the line short in curl and is not allowed in a field anyway.
    std::replace_if(
        line.begin(), line.end(),
        [](char ch) { return ch == '\r' || ch == '\n' || ch == '\0'; }, ' ');
    req.headers.push_back(std::move(line));
  }
  if (req.method != http::Method::get) c.body.Render(message, req.body);
  req.timeout = c.config.http.timeout;
  req.connect_timeout = c.config.http.connect_timeout;
  return req;
}

SendResult GenericHttpProvider::MapResponse(const CompiledGenericHttp& c,
                                            const http::Response& r) {
  const auto& cfg = c.config;
  const bool status_ok = r.error == http::TransportError::none &&
                         std::find(cfg.success_status.begin(), cfg.success_status.end(),
                                   static_cast<int>(r.status)) != cfg.success_status.end();
  if (!status_ok) {
    if (auto common = MapCommonHttpOutcome(r)) return *std::move(common);
  }
  SendResult out;
  out.latency = r.elapsed;
  bool body_ok = status_ok;
  if (body_ok && !cfg.success_json_pointer.empty()) {
    const auto v = ValueAtPointer(r.body, cfg.success_json_pointer);
    body_ok = v.has_value() && (cfg.success_equals.empty() || *v == cfg.success_equals);
  }
  if (body_ok && c.success_regex) body_ok = Search(RegexInput(r.body), *c.success_regex);
  if (body_ok) {
    out.status = SendStatus::accepted;
    if (!cfg.message_id_header.empty()) {
      if (const std::string* h = r.header(cfg.message_id_header)) out.provider_message_id = *h;
    } else if (!cfg.message_id_json_pointer.empty()) {
      if (auto v = ValueAtPointer(r.body, cfg.message_id_json_pointer)) {
        out.provider_message_id = *std::move(v);
      }
    } else if (c.message_id_regex) {
      const std::string_view input = RegexInput(r.body);
      std::match_results<std::string_view::const_iterator> match;
      if (std::regex_search(input.begin(), input.end(), match, *c.message_id_regex)) {
        out.provider_message_id = match[1].str();
      }
    }
    return out;
  }
  out.reason = status_ok ? "unexpected_body" : "http_" + std::to_string(r.status);
  if (c.invalid_address_regex && Search(RegexInput(r.body), *c.invalid_address_regex)) {
    out.status = SendStatus::invalid_address;
  } else {
    out.status = SendStatus::permanent;
  }
  return out;
}

void GenericHttpProvider::Send(const OutboundMessage& message, SendCallback done) {
  dispatcher_.Dispatch(
      message.bulk, BuildRequest(*compiled_, message),
      [compiled = compiled_](const http::Response& r) { return MapResponse(*compiled, r); },
      std::move(done));
}

}  // namespace omnigate::providers
