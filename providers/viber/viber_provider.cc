#include "providers/viber/viber_provider.h"

#include "common/json.h"

namespace omnigate::providers {

ViberProvider::ViberProvider(std::string name, std::shared_ptr<const ViberConfig> config,
                             http::Transport& transport, std::size_t max_in_flight)
    : name_(std::move(name)),
      config_(std::move(config)),
      dispatcher_(name_, "Viber", transport, max_in_flight),
      url_(config_->base_url + "/pa/send_message"),
      auth_header_("X-Viber-Auth-Token: " + config_->auth_token) {}

std::string ViberProvider::BuildBody(const ViberConfig& config, const ViberMessage& viber,
                                     std::string_view request_id) {
  std::string out;
  out.reserve(256 + viber.text.size() + viber.image_url.size() + viber.button_url.size());
  out += "{\"receiver\":";
  AppendJsonString(viber.to, out);
  if (config.min_api_version > 0) {
    out += ",\"min_api_version\":" + std::to_string(config.min_api_version);
  }
  out += ",\"sender\":{\"name\":";
  AppendJsonString(config.sender_name, out);
  if (!config.sender_avatar.empty()) {
    out += ",\"avatar\":";
    AppendJsonString(config.sender_avatar, out);
  }
  out += "},\"tracking_data\":";
  AppendJsonString(request_id, out);
  if (viber.image_url.empty()) {
    out += ",\"type\":\"text\",\"text\":";
    AppendJsonString(viber.text, out);
  } else {
    out += ",\"type\":\"picture\",\"text\":";
    AppendJsonString(viber.text, out);
    out += ",\"media\":";
    AppendJsonString(viber.image_url, out);
  }
  if (!viber.button_url.empty()) {
    out +=
        ",\"keyboard\":{\"Type\":\"keyboard\",\"DefaultHeight\":false,\"Buttons\":[{"
        "\"Columns\":6,\"Rows\":1,\"ActionType\":\"open-url\",\"ActionBody\":";
    AppendJsonString(viber.button_url, out);
    out += ",\"Text\":";
    AppendJsonString(viber.button_caption, out);
    out += "}]}";
  }
  out += '}';
  return out;
}

SendResult ViberProvider::MapResponse(const http::Response& r) {
  if (auto common = MapCommonHttpOutcome(r)) return *std::move(common);
  SendResult out;
  out.latency = r.elapsed;
  if (r.status != 200) {
    out.status = SendStatus::permanent;
    out.reason = "http_" + std::to_string(r.status);
    return out;
  }
  simdjson::dom::element doc;
  std::int64_t status = -1;
  if (ThreadJsonParser().parse(r.body.data(), r.body.size()).get(doc) != simdjson::SUCCESS ||
      doc["status"].get(status) != simdjson::SUCCESS) {
    // A 200 we cannot read may or may not have sent: retrying risks a
    // duplicate, not retrying risks a loss. Viber does not send such bodies;
    // a proxy in between might, and its answer is not Viber's acceptance.
    out.status = SendStatus::retry;
    out.reason = "unreadable_body";
    return out;
  }
  if (status == 0) {
    out.status = SendStatus::accepted;
    // message_token is a 64-bit integer; keep its decimal text exactly.
    std::uint64_t token = 0;
    std::int64_t signed_token = 0;
    if (doc["message_token"].get(token) == simdjson::SUCCESS) {
      out.provider_message_id = std::to_string(token);
    } else if (doc["message_token"].get(signed_token) == simdjson::SUCCESS) {
      out.provider_message_id = std::to_string(signed_token);
    } else {
      out.reason = "no_message_token_in_response";
    }
    return out;
  }
  out.reason = "viber_" + std::to_string(status);
  switch (status) {
    case 5:   // receiverNotRegistered
    case 6:   // receiverNotSubscribed
    case 11:  // receiverNoSuitableDevice
      out.status = SendStatus::invalid_address;
      break;
    case 12:  // tooManyRequests
      out.status = SendStatus::throttled;
      out.retry_after = std::chrono::seconds(1);
      break;
    case 2:  // invalidAuthToken
      out.status = SendStatus::permanent;
      out.reason = "auth";
      break;
    default:
      // badData, missingData, account blocked/suspended/not authorized (7, 8,
      // 9, 15), webhookNotSet, unsupportedCountry, noBalance, and codes Viber
      // may add: none improves by sending the same again.
      out.status = SendStatus::permanent;
  }
  return out;
}

void ViberProvider::Send(const OutboundMessage& message, SendCallback done) {
  http::Request req;
  req.method = http::Method::post;
  req.url = url_;
  req.headers = {auth_header_, "Content-Type: application/json"};
  req.body = BuildBody(*config_, message.viber, message.request_id);
  req.timeout = config_->http.timeout;
  req.connect_timeout = config_->http.connect_timeout;
  dispatcher_.Dispatch(message.bulk, std::move(req), &MapResponse, std::move(done));
}

}  // namespace omnigate::providers
