#pragma once

#include <memory>
#include <string>

#include "providers/http_adapter.h"
#include "providers/provider.h"
#include "providers/smtp/smtp_config.h"

namespace omnigate::providers {

// Email over SMTP, one submission (MAIL, RCPT, DATA) per message through the
// worker's libcurl Transport. One instance per worker, used on that worker's
// io_context thread; the config is shared and immutable.
class SmtpProvider final : public Provider {
 public:
  // `max_in_flight` is this instance's share of config.http.max_in_flight.
  SmtpProvider(std::string name, std::shared_ptr<const SmtpConfig> config,
               http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return Channel::email; }
  // A message that cannot be built (e.g. CR/LF in a header value) completes
  // as permanent "invalid_message" before Send returns.
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  // The one place SMTP outcomes become SendStatus values. provider_message_id
  // is left for the caller, which knows the Message-ID it generated.
  static SendResult MapResponse(const http::Response& response);

 private:
  std::string name_;
  std::shared_ptr<const SmtpConfig> config_;
  HttpDispatcher dispatcher_;
  std::string basic_auth_;
  bool require_tls_;
  std::string from_domain_;
};

}  // namespace omnigate::providers
