#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "providers/http_adapter.h"
#include "providers/sendgrid/sendgrid_config.h"

namespace omnigate::providers {

// Email through SendGrid's v3 Mail Send API. One instance per worker thread.
class SendGridProvider final : public Provider {
 public:
  SendGridProvider(std::string name, std::shared_ptr<const SendGridConfig> config,
                   http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return Channel::email; }
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  // The JSON body of POST /v3/mail/send. Fails only when no usable From
  // exists. `request_id` travels as custom_args.omnigate_id, which SendGrid
  // echoes in its event webhook: that is how receipts find their request.
  static Result<std::string, std::string> BuildBody(const SendGridConfig& config,
                                                    const EmailMessage& email,
                                                    std::string_view request_id);
  // The one place SendGrid's answers become SendStatus values.
  static SendResult MapResponse(const http::Response& response);

 private:
  std::string name_;
  std::shared_ptr<const SendGridConfig> config_;
  HttpDispatcher dispatcher_;
  std::string url_;
  std::string auth_header_;
};

}  // namespace omnigate::providers
