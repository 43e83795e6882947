#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "providers/generic/generic_config.h"
#include "providers/generic/generic_template.h"
#include "providers/http_adapter.h"

namespace omnigate::providers {

// Templates and regexes compiled once from a GenericHttpConfig, shared by the
// worker instances. Compile errors name the config key they come from.
struct CompiledGenericHttp {
  GenericHttpConfig config;
  MessageTemplate url;
  std::vector<std::pair<std::string, MessageTemplate>> headers;
  MessageTemplate body;
  std::optional<std::regex> success_regex;
  std::optional<std::regex> message_id_regex;
  std::optional<std::regex> invalid_address_regex;

  // Errors are "key: message", keys as in the YAML ("headers.Authorization").
  static Result<std::shared_ptr<const CompiledGenericHttp>, std::vector<std::string>> Compile(
      GenericHttpConfig config);
};

class GenericHttpProvider final : public Provider {
 public:
  GenericHttpProvider(std::string name, std::shared_ptr<const CompiledGenericHttp> compiled,
                      http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return compiled_->config.channel; }
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  static http::Request BuildRequest(const CompiledGenericHttp& compiled,
                                    const OutboundMessage& message);
  // The one place this provider's answers become SendStatus values, following
  // the configured rules.
  static SendResult MapResponse(const CompiledGenericHttp& compiled,
                                const http::Response& response);

 private:
  std::string name_;
  std::shared_ptr<const CompiledGenericHttp> compiled_;
  HttpDispatcher dispatcher_;
};

}  // namespace omnigate::providers
