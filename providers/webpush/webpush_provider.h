#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "providers/http_adapter.h"
#include "providers/webpush/webpush_config.h"
#include "providers/webpush/webpush_crypto.h"

namespace omnigate::providers {

// Web push to any RFC 8030 push service. One instance per worker thread; the
// signed VAPID JWT is cached per push-service origin until it nears expiry.
class WebPushProvider final : public Provider {
 public:
  WebPushProvider(std::string name, std::shared_ptr<const WebPushConfig> config,
                  webpush::VapidKey key, http::Transport& transport, std::size_t max_in_flight);

  std::string_view name() const override { return name_; }
  Channel channel() const override { return Channel::webpush; }
  // A subscription whose keys do not decode, or a payload over the record
  // limit, completes as permanent before Send returns.
  void Send(const OutboundMessage& message, SendCallback done) override;
  std::size_t in_flight() const override { return dispatcher_.in_flight(); }
  std::size_t AbandonQueued() override { return dispatcher_.AbandonQueued(); }

  // The one place push-service answers become SendStatus values.
  static SendResult MapResponse(const http::Response& response);

 private:
  const std::string& AuthorizationFor(const std::string& audience);

  struct CachedJwt {
    std::string header;
    std::int64_t expires = 0;
  };

  std::string name_;
  std::shared_ptr<const WebPushConfig> config_;
  webpush::VapidKey key_;
  HttpDispatcher dispatcher_;
  std::unordered_map<std::string, CachedJwt> jwt_cache_;
};

}  // namespace omnigate::providers
