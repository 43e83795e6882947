#include "gateway/message_status.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <memory>

#include "common/json.h"
#include "common/mask.h"
#include "common/text.h"

namespace omnigate::gateway {

std::string HistoryKey(std::string_view tenant, std::string_view id) {
  std::string key;
  key.reserve(tenant.size() + id.size() + 3);
  key += "h|";
  key += tenant;
  key += '|';
  key += id;
  return key;
}

std::string ProviderIdKey(std::string_view provider_message_id) {
  std::string key = "p|";
  key += provider_message_id;
  return key;
}

namespace {

// A field of an item, with the list's and the item's separators escaped.
void AppendField(std::string_view text, std::string& out) {
  for (const char c : text) {
    switch (c) {
      case ',': out += "%2C"; break;
      case '|': out += "%7C"; break;
      case '%': out += "%25"; break;
      default: out += c;
    }
  }
}

void StartItem(char kind, std::string& list) {
  if (!list.empty()) list += ',';
  list += kind;
  list += '|';
}

std::optional<EventStatus> EventStatusFromString(std::string_view s) {
  for (int i = 0; i < kEventStatusCount; ++i) {
    const auto status = static_cast<EventStatus>(i);
    if (ToString(status) == s) return status;
  }
  return std::nullopt;
}

template <typename Int>
bool ParseInt(std::string_view s, Int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

void AppendHistorySummary(const SendRequest& req, std::string& list) {
  StartItem('r', list);
  std::string json;
  AppendRequestSummary(req, json);
  AppendField(json, list);
}

void AppendHistoryEvent(const Event& e, std::string& list) {
  StartItem('e', list);
  fmt::format_to(std::back_inserter(list), "{}|{}|{}|{}|", e.seq, ToString(e.status),
                 e.final ? 1 : 0,
                 std::chrono::duration_cast<std::chrono::milliseconds>(e.ts.time_since_epoch())
                     .count());
  AppendField(e.channel, list);
  fmt::format_to(std::back_inserter(list), "|{}|", e.attempt);
  AppendField(e.provider, list);
  list += '|';
  AppendField(e.provider_message_id, list);
  list += '|';
  AppendField(e.reason, list);
  fmt::format_to(std::back_inserter(list), "|{}", e.segments);
  if (!e.raw_status.empty() || !e.error_code.empty()) {
    list += '|';
    AppendField(e.raw_status, list);
    list += '|';
    AppendField(e.error_code, list);
  }
}

void AppendRequestSummary(const SendRequest& req, std::string& out) {
  out += "{\"request\":{\"lane\":\"";
  out += ToString(req.lane);
  out += "\",\"channels\":[";
  for (std::size_t i = 0; i < req.channels.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += ToString(req.channels[i]);
    out += '"';
  }
  out += "],\"to\":{";
  bool first = true;
  auto field = [&](const char* name, const std::string& masked) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += name;
    out += "\":";
    AppendJsonString(masked, out);
  };
  if (!req.to.phone.empty()) field("phone", MaskPhone(req.to.phone));
  if (!req.to.email.empty()) field("email", MaskEmail(req.to.email));
  if (!req.to.viber.empty()) field("viber", MaskAddress(req.to.viber));
  if (req.to.webpush) {
    // The push service's origin is enough to say where it went; the path
    // identifies the subscriber.
    const std::string& endpoint = req.to.webpush->endpoint;
    const auto scheme = endpoint.find("://");
    const auto path = endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    field("webpush", endpoint.substr(0, path) + "/…");
  }
  if (!req.to.user_id.empty()) field("user_id", MaskAddress(req.to.user_id));
  out += '}';
  if (!req.campaign.empty()) {
    out += ",\"campaign\":";
    AppendJsonString(req.campaign, out);
  }
  if (!req.tags.empty()) {
    out += ",\"tags\":[";
    for (std::size_t i = 0; i < req.tags.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(req.tags[i], out);
    }
    out += ']';
  }
  if (req.send_at) {
    out += ",\"send_at\":\"";
    AppendTimestamp(*req.send_at, out);
    out += '"';
  }
  if (req.expires_at) {
    out += ",\"expires_at\":\"";
    AppendTimestamp(*req.expires_at, out);
    out += '"';
  }
  out += "}}";
}

std::string CascadeKey(std::string_view tenant, std::string_view id) {
  std::string key = "c|";
  key += tenant;
  key += '|';
  key += id;
  return key;
}

std::string TimerKey(std::string_view tenant, std::string_view id) {
  std::string key(tenant);
  key += '|';
  key += id;
  return key;
}

std::string_view ToString(WaitFor w) {
  switch (w) {
    case WaitFor::sent: return "sent";
    case WaitFor::delivered: return "delivered";
    case WaitFor::read: return "read";
  }
  return "delivered";
}

std::string EncodeCascadeState(const CascadeState& c) {
  std::string out = fmt::format("{}|{}|{}|{}", c.state, c.pos, ToString(c.channel),
                                ToString(c.wait_for));
  if (!c.detail.empty()) {
    out += '|';
    AppendField(c.detail, out);
  }
  return out;
}

std::optional<CascadeState> DecodeCascadeState(std::string_view value) {
  std::array<std::string_view, 5> f;
  std::size_t n = 0;
  while (n < f.size()) {
    const auto bar = value.find('|');
    f[n++] = value.substr(0, bar);
    if (bar == std::string_view::npos) break;
    value.remove_prefix(bar + 1);
  }
  if (n < 4 || f[0].size() != 1 || std::string_view("wdfxq").find(f[0][0]) == std::string_view::npos) {
    return std::nullopt;
  }
  CascadeState c;
  c.state = f[0][0];
  const auto channel = ChannelFromString(f[2]);
  if (!ParseInt(f[1], c.pos) || !channel) return std::nullopt;
  c.channel = *channel;
  if (f[3] == "sent") {
    c.wait_for = WaitFor::sent;
  } else if (f[3] == "delivered") {
    c.wait_for = WaitFor::delivered;
  } else if (f[3] == "read") {
    c.wait_for = WaitFor::read;
  } else {
    return std::nullopt;
  }
  if (n == 5) {
    auto detail = PercentDecode(f[4], false);
    if (!detail) return std::nullopt;
    c.detail = std::move(detail).value();
  }
  return c;
}

std::string EncodeSentRef(const SentRef& ref) {
  // Tabs separate: none of the fields can hold one (ids are printable
  // ASCII, addresses are normalised).
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}", ref.provider, ref.tenant, ref.id,
                     ToString(ref.channel), ref.address, ref.waits ? "w" : "-");
}

std::optional<SentRef> DecodeSentRef(std::string_view value) {
  const auto tabs = std::count(value.begin(), value.end(), '\t');
  if (tabs < 4 || tabs > 5) return std::nullopt;
  std::array<std::string_view, 6> f;
  for (std::size_t i = 0; i <= static_cast<std::size_t>(tabs); ++i) {
    const auto tab = value.find('\t');
    f[i] = value.substr(0, tab);
    if (tab != std::string_view::npos) value.remove_prefix(tab + 1);
  }
  const auto channel = ChannelFromString(f[3]);
  if (!channel || f[1].empty() || f[2].empty()) return std::nullopt;
  // A record from before the flag (five fields) may be a waiting step.
  return SentRef{std::string(f[0]), std::string(f[1]), std::string(f[2]), *channel,
                 std::string(f[4]), tabs == 4 || f[5] == "w"};
}

std::string RenderMessage(std::string_view tenant, std::string_view id, std::string_view list) {
  std::string request = "null";
  std::string campaign;
  std::string events;
  std::string_view status;
  bool final = false;
  std::uint32_t last_seq = 0;
  simdjson::dom::parser parser;
  std::vector<std::string> fields;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    // Fields unescaped; an item that does not read is left out.
    fields.clear();
    bool ok = item.size() > 2 && item[1] == '|';
    for (std::string_view rest = ok ? item.substr(2) : std::string_view(); ok;) {
      const auto bar = rest.find('|');
      auto field = PercentDecode(rest.substr(0, bar), false);
      if (!field) ok = false;
      if (ok) fields.push_back(std::move(field).value());
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    if (!ok) continue;
    if (item[0] == 'r' && fields.size() == 1) {
      simdjson::dom::element doc;
      simdjson::dom::element summary;
      if (parser.parse(fields[0]).get(doc) != simdjson::SUCCESS ||
          doc["request"].get(summary) != simdjson::SUCCESS) {
        continue;
      }
      request = simdjson::minify(summary);
      std::string_view c;
      if (summary["campaign"].get(c) == simdjson::SUCCESS) campaign = c;
      continue;
    }
    if (item[0] != 'e' || (fields.size() != 10 && fields.size() != 12)) continue;
    Event e;
    e.id = id;
    e.tenant = tenant;
    const auto parsed = EventStatusFromString(fields[1]);
    std::int64_t ts_ms = 0;
    if (!parsed || !ParseInt(fields[0], e.seq) || !ParseInt(fields[3], ts_ms) ||
        !ParseInt(fields[5], e.attempt) || !ParseInt(fields[9], e.segments)) {
      continue;
    }
    e.status = *parsed;
    e.final = fields[2] == "1";
    e.ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(ts_ms));
    e.channel = fields[4];
    e.provider = fields[6];
    e.provider_message_id = fields[7];
    e.reason = fields[8];
    e.campaign = campaign;
    if (fields.size() == 12) {
      e.raw_status = fields[10];
      e.error_code = fields[11];
    }
    // A receipt's item is written before its place is known: it takes the
    // next number.
    if (e.seq == 0) e.seq = last_seq + 1;
    last_seq = e.seq;
    if (!events.empty()) events += ',';
    AppendEventJson(e, events);
    status = ToString(e.status);
    final = final || e.final;
  }
  std::string out = "{\"id\":";
  AppendJsonString(id, out);
  out += ",\"tenant\":";
  AppendJsonString(tenant, out);
  out += ",\"request\":";
  out += request;
  out += ",\"status\":";
  if (status.empty()) {
    out += "null";
  } else {
    AppendJsonString(status, out);
  }
  out += ",\"final\":";
  out += final ? "true" : "false";
  out += ",\"events\":[";
  out += events;
  out += "]}";
  return out;
}

namespace {

HttpResponse JsonError(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"error\":";
  AppendJsonString(message, r.body);
  r.body += '}';
  return r;
}

// name=value pairs of a query string, percent-decoded; nullopt when one is
// malformed, unknown or repeated (`error` says which).
std::optional<std::map<std::string, std::string, std::less<>>> Query(
    std::string_view query, std::initializer_list<std::string_view> accepted, std::string& error) {
  auto fields = DecodeForm(query);
  if (!fields) {
    error = "malformed percent-encoding in the query";
    return std::nullopt;
  }
  std::map<std::string, std::string, std::less<>> out;
  for (auto& [name, value] : *fields) {
    if (std::find(accepted.begin(), accepted.end(), name) == accepted.end()) {
      std::string names;
      for (const auto a : accepted) names += (names.empty() ? "" : ", ") + std::string(a);
      error = "unknown query parameter '" + name + "'; the parameters are " + names;
      return std::nullopt;
    }
    if (!out.emplace(std::move(name), std::move(value)).second) {
      error = "a query parameter is given twice";
      return std::nullopt;
    }
  }
  return out;
}

class MessageApi {
 public:
  MessageApi(state::BlockingStore& store, std::string default_tenant)
      : store_(store), default_tenant_(std::move(default_tenant)) {}

  // GET /v1/messages/{id}[?tenant=…]
  HttpResponse ById(const HttpRequest& r) {
    constexpr std::string_view kPrefix = "/v1/messages/";
    auto id = PercentDecode(std::string_view(r.target).substr(kPrefix.size()), false);
    if (!id || id->empty() || id->find('/') != std::string::npos) {
      return JsonError(400, "expected /v1/messages/{id}, the id percent-encoded");
    }
    std::string error;
    const auto q = Query(r.query, {"tenant"}, error);
    if (!q) return JsonError(400, error);
    const auto t = q->find("tenant");
    return Answer(t == q->end() ? default_tenant_ : t->second, *id);
  }

  // GET /v1/messages?provider_message_id=…
  HttpResponse ByProviderId(const HttpRequest& r) {
    std::string error;
    const auto q = Query(r.query, {"provider_message_id"}, error);
    if (!q) return JsonError(400, error);
    const auto p = q->find("provider_message_id");
    if (p == q->end() || p->second.empty()) {
      return JsonError(400, "provider_message_id is required (GET /v1/messages/{id} finds by "
                            "our id)");
    }
    std::vector<state::Op> ops(1, state::Op{.type = state::Op::Type::get,
                                            .family = state::Family::status,
                                            .key = ProviderIdKey(p->second)});
    if (store_.Run(ops) != state::StoreStatus::ok) return Unavailable();
    const auto ref = ops[0].found ? DecodeSentRef(ops[0].result) : std::nullopt;
    if (!ref) return JsonError(404, "no send with this provider_message_id within the retention");
    return Answer(ref->tenant, ref->id);
  }

 private:
  HttpResponse Answer(const std::string& tenant, const std::string& id) {
    std::vector<state::Op> ops(1, state::Op{.type = state::Op::Type::get,
                                            .family = state::Family::status,
                                            .key = HistoryKey(tenant, id)});
    if (store_.Run(ops) != state::StoreStatus::ok) return Unavailable();
    if (!ops[0].found) {
      return JsonError(404, "no message '" + id + "' of tenant '" + tenant +
                                "' within the status retention");
    }
    HttpResponse resp;
    resp.content_type = "application/json";
    resp.body = RenderMessage(tenant, id, ops[0].result);
    return resp;
  }

  static HttpResponse Unavailable() {
    auto r = JsonError(503, "the state store did not answer; try again");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  state::BlockingStore& store_;
  const std::string default_tenant_;
};

}  // namespace

void RegisterMessageRoutes(HttpServer& http, state::BlockingStore& store,
                           std::string default_tenant) {
  auto api = std::make_shared<MessageApi>(store, std::move(default_tenant));
  http.Route("GET", "/v1/messages/*", [api](const HttpRequest& r) { return api->ById(r); });
  http.Route("GET", "/v1/messages", [api](const HttpRequest& r) { return api->ByProviderId(r); });
}

}  // namespace omnigate::gateway
