#pragma once

#include <memory>
#include <string>

#include "providers/http_adapter.h"
#include "providers/http/transport.h"
#include "providers/provider.h"
#include "providers/twilio/twilio_config.h"

namespace omnigate::providers {

// SMS through the Twilio Messages API. One instance per worker; runs on that
// worker's io_context thread and sends through the worker's Transport. Shares
// the immutable config with the other workers' instances.
class TwilioProvider final : public Provider {
 public:
  // `max_in_flight` is this instance's share of config.http.max_in_flight.
  TwilioProvider(std::string name, std::shared_ptr<const TwilioConfig> config,
                 http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return Channel::sms; }
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  // The form body Twilio expects (application/x-www-form-urlencoded).
  static std::string BuildForm(const TwilioConfig& config, const SmsMessage& sms);
  // The one place Twilio's answers become SendStatus values.
  static SendResult MapResponse(const http::Response& response);

 private:
  std::string name_;
  std::shared_ptr<const TwilioConfig> config_;
  HttpDispatcher dispatcher_;
  std::string url_;
  std::string basic_auth_;
};

// Appends `value` form-urlencoded (space as '+', unreserved kept, rest %XX).
void AppendFormEncoded(std::string_view value, std::string& out);

}  // namespace omnigate::providers
