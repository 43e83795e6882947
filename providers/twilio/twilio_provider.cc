#include "providers/twilio/twilio_provider.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "providers/twilio/sms_segments.h"

namespace omnigate::providers {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out.push_back('&');
  out.append(name);
  out.push_back('=');
  AppendFormEncoded(value, out);
}

// Twilio's error bodies: {"code": 21211, "message": "...", "status": 400}.
std::int64_t ErrorCode(std::string_view body) {
  simdjson::dom::element doc;
  if (ThreadJsonParser().parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) return 0;
  std::int64_t code = 0;
  if (doc["code"].get(code) != simdjson::SUCCESS) return 0;
  return code;
}

}  // namespace

void AppendFormEncoded(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

TwilioProvider::TwilioProvider(std::string name, std::shared_ptr<const TwilioConfig> config,
                               http::Transport& transport, std::size_t max_in_flight)
    : name_(std::move(name)),
      config_(std::move(config)),
      dispatcher_(name_, "Twilio", transport, max_in_flight),
      url_(config_->base_url + "/2010-04-01/Accounts/" + config_->account_sid + "/Messages.json"),
      basic_auth_(config_->account_sid + ":" + config_->auth_token) {}

std::string TwilioProvider::BuildForm(const TwilioConfig& config, const SmsMessage& sms) {
  std::string form;
  form.reserve(64 + sms.text.size() * 3 + config.status_callback.size());
  AppendField(form, "To", sms.to);
  AppendField(form, "Body", sms.text);
  // A per-request sender overrides the configured one; a Messaging Service
  // picks its own sender from its pool when no From is given.
  if (!sms.sender.empty()) {
    AppendField(form, "From", sms.sender);
  } else if (!config.from.empty()) {
    AppendField(form, "From", config.from);
  }
  if (!config.messaging_service_sid.empty()) {
    AppendField(form, "MessagingServiceSid", config.messaging_service_sid);
  }
  if (!config.status_callback.empty()) AppendField(form, "StatusCallback", config.status_callback);
  if (config.validity_period.count() > 0) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(config.validity_period).count();
    AppendField(form, "ValidityPeriod", std::to_string(seconds));
  }
  return form;
}

SendResult TwilioProvider::MapResponse(const http::Response& r) {
  if (auto common = MapCommonHttpOutcome(r)) return *std::move(common);
  SendResult out;
  out.latency = r.elapsed;
  const long s = r.status;  // NOLINT(google-runtime-int)
  if (s == 200 || s == 201) {
    simdjson::dom::element doc;
    std::string_view sid;
    out.status = SendStatus::accepted;
    if (ThreadJsonParser().parse(r.body.data(), r.body.size()).get(doc) == simdjson::SUCCESS &&
        doc["sid"].get(sid) == simdjson::SUCCESS && !sid.empty()) {
      out.provider_message_id = std::string(sid);
    } else {
      // Accepted by the API but receipts cannot be correlated: still a send.
      out.reason = "no_sid_in_response";
    }
    return out;
  }
  const std::int64_t code = ErrorCode(r.body);
  switch (code) {
    case 21211:  // invalid 'To' number
    case 21614:  // 'To' is not a mobile number
    case 21612:  // 'To' not reachable from this sender
    case 21408:  // no permission to send to this region
      out.status = SendStatus::invalid_address;
      break;
    case 20429:  // too many requests, when sent with a 400
      out.status = SendStatus::throttled;
      out.retry_after = RetryAfter(r);
      break;
    default:
      out.status = SendStatus::permanent;
  }
  out.reason = code != 0 ? "twilio_" + std::to_string(code) : "http_" + std::to_string(s);
  return out;
}

void TwilioProvider::Send(const OutboundMessage& message, SendCallback done) {
  http::Request req;
  req.method = http::Method::post;
  req.url = url_;
  req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  req.body = BuildForm(*config_, message.sms);
  req.basic_auth = basic_auth_;
  req.timeout = config_->http.timeout;
  req.connect_timeout = config_->http.connect_timeout;
  const int segments = CountSmsSegments(message.sms.text).segments;
  dispatcher_.Dispatch(message.bulk, std::move(req), &MapResponse,
                       [segments, done = std::move(done)](SendResult result) {
                         result.segments = segments;
                         done(std::move(result));
                       });
}

}  // namespace omnigate::providers
