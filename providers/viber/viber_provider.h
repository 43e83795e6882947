#pragma once

#include <memory>
#include <string>

#include "providers/http_adapter.h"
#include "providers/viber/viber_config.h"

namespace omnigate::providers {

// Viber through the REST Bot API. One instance per worker thread.
class ViberProvider final : public Provider {
 public:
  ViberProvider(std::string name, std::shared_ptr<const ViberConfig> config,
                http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return Channel::viber; }
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  // The JSON body of send_message: a text message, or a picture message (text
  // as its caption) when image_url is set, with a one-button keyboard opening
  // button_url when a button is given. `request_id` goes in tracking_data.
  static std::string BuildBody(const ViberConfig& config, const ViberMessage& viber,
                               std::string_view request_id);
  // The one place Viber's answers become SendStatus values. Viber answers
  // HTTP 200 for everything; the verdict is the body's "status" code.
  static SendResult MapResponse(const http::Response& response);

 private:
  std::string name_;
  std::shared_ptr<const ViberConfig> config_;
  HttpDispatcher dispatcher_;
  std::string url_;
  std::string auth_header_;
};

}  // namespace omnigate::providers
