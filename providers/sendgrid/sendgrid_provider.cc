#include "providers/sendgrid/sendgrid_provider.h"

#include <charconv>
#include <ctime>

#include "common/json.h"
#include "providers/mailbox.h"

namespace omnigate::providers {
namespace {

void AppendAddress(const Mailbox& m, std::string& out) {
  out += "{\"email\":";
  AppendJsonString(m.address, out);
  if (!m.display_name.empty()) {
    out += ",\"name\":";
    AppendJsonString(m.display_name, out);
  }
  out += '}';
}

// SendGrid sends X-RateLimit-Reset (unix seconds) with its 429s rather than
// Retry-After.
std::chrono::milliseconds RateLimitReset(const http::Response& r) {
  if (const std::string* v = r.header("x-ratelimit-reset")) {
    std::int64_t reset = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), reset);
    const std::int64_t now = std::time(nullptr);
    if (ec == std::errc{} && reset > now && reset - now < 3600) {
      return std::chrono::seconds(reset - now);
    }
  }
  return RetryAfter(r);
}

// True when a 400's errors[] blames the recipient address
// ({"errors":[{"field":"personalizations.0.to.0.email","message":"..."}]}).
bool BlamesRecipient(std::string_view body) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
    return false;
  }
  simdjson::dom::array errors;
  if (doc["errors"].get(errors) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element e : errors) {
    std::string_view field;
    if (e["field"].get(field) != simdjson::SUCCESS) continue;
    if (field.find(".to.") != std::string_view::npos && field.ends_with(".email")) return true;
  }
  return false;
}

}  // namespace

SendGridProvider::SendGridProvider(std::string name, std::shared_ptr<const SendGridConfig> config,
                                   http::Transport& transport, std::size_t max_in_flight)
    : name_(std::move(name)),
      config_(std::move(config)),
      dispatcher_(name_, "SendGrid", transport, max_in_flight),
      url_(config_->base_url + "/v3/mail/send"),
      auth_header_("Authorization: Bearer " + config_->api_key) {}

Result<std::string, std::string> SendGridProvider::BuildBody(const SendGridConfig& config,
                                                             const EmailMessage& email,
                                                             std::string_view request_id) {
  const std::string_view from_text = email.from.empty() ? config.from : email.from;
  const auto from = ParseMailbox(from_text);
  if (!from) return MakeUnexpected(std::string("no usable From address"));
  std::string out;
  out.reserve(256 + email.subject.size() + email.text.size() + email.html.size());
  out += "{\"personalizations\":[{\"to\":[{\"email\":";
  AppendJsonString(email.to, out);
  out += "}],\"custom_args\":{\"omnigate_id\":";
  AppendJsonString(request_id, out);
  out += "}}],\"from\":";
  AppendAddress(*from, out);
  out += ",\"subject\":";
  AppendJsonString(email.subject, out);
  // SendGrid requires text/plain before text/html.
  out += ",\"content\":[";
  bool first = true;
  if (!email.text.empty()) {
    out += "{\"type\":\"text/plain\",\"value\":";
    AppendJsonString(email.text, out);
    out += '}';
    first = false;
  }
  if (!email.html.empty()) {
    if (!first) out += ',';
    out += "{\"type\":\"text/html\",\"value\":";
    AppendJsonString(email.html, out);
    out += '}';
  }
  out += ']';
  if (!email.unsubscribe_url.empty()) {
    // RFC 8058 one-click unsubscribe; Gmail and Yahoo require it for bulk mail.
    std::string angle;
    AppendListUnsubscribeTarget(email.unsubscribe_url, angle);
    out += ",\"headers\":{\"List-Unsubscribe\":";
    AppendJsonString(angle, out);
    out += ",\"List-Unsubscribe-Post\":\"List-Unsubscribe=One-Click\"}";
  }
  if (!config.category.empty()) {
    out += ",\"categories\":[";
    AppendJsonString(config.category, out);
    out += ']';
  }
  out += '}';
  return out;
}

SendResult SendGridProvider::MapResponse(const http::Response& r) {
  if (auto common = MapCommonHttpOutcome(r)) {
    if (common->status == SendStatus::throttled) common->retry_after = RateLimitReset(r);
    return *std::move(common);
  }
  SendResult out;
  out.latency = r.elapsed;
  const long s = r.status;  // NOLINT(google-runtime-int)
  if (s == 202 || s == 200) {
    out.status = SendStatus::accepted;
    if (const std::string* id = r.header("x-message-id"); id != nullptr && !id->empty()) {
      out.provider_message_id = *id;
    } else {
      out.reason = "no_message_id_in_response";
    }
    return out;
  }
  out.reason = "http_" + std::to_string(s);
  if (s == 400 && BlamesRecipient(r.body)) {
    out.status = SendStatus::invalid_address;
  } else {
    // 400 bad request, 413 payload too large, 404 wrong base_url: sending the
    // same bytes again cannot succeed.
    out.status = SendStatus::permanent;
  }
  return out;
}

void SendGridProvider::Send(const OutboundMessage& message, SendCallback done) {
  auto body = BuildBody(*config_, message.email, message.request_id);
  if (!body) {
    SendResult r;
    r.status = SendStatus::permanent;
    r.reason = "no_from_address";
    done(std::move(r));
    return;
  }
  http::Request req;
  req.method = http::Method::post;
  req.url = url_;
  req.headers = {auth_header_, "Content-Type: application/json"};
  req.body = *std::move(body);
  req.timeout = config_->http.timeout;
  req.connect_timeout = config_->http.connect_timeout;
  dispatcher_.Dispatch(message.bulk, std::move(req), &MapResponse, std::move(done));
}

}  // namespace omnigate::providers
