#include "gateway/provider_factory.h"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "providers/generic/generic_provider.h"
#include "providers/sendgrid/sendgrid_provider.h"
#include "providers/smtp/smtp_provider.h"
#include "providers/twilio/twilio_provider.h"
#include "providers/viber/viber_provider.h"
#include "providers/webpush/webpush_provider.h"

namespace omnigate::gateway {
namespace {

// maybe_unused: its one use is the branch that must never be instantiated,
// and clang (-Wunused-const-variable) counts only instantiated uses.
template <typename>
[[maybe_unused]] inline constexpr bool kAlwaysFalse = false;

http::TransportOptions TransportFor(const providers::HttpProviderCommon& http, int per_worker) {
  http::TransportOptions o;
  o.tls_verify = http.tls_verify;
  o.ca_file = http.ca_file;
  o.engine = http.http_client;
  o.destination_allowlist = http.destination_allowlist;
  // Enough connections for the worker's share; HTTP/2 servers multiplex.
  o.max_connections_per_host = std::max(1, per_worker);
  o.max_total_connections = std::max(1, per_worker);
  return o;
}

}  // namespace

WorkerProviders MakeWorkerProviders(const Config& config, boost::asio::io_context& io,
                                    int worker_count) {
  WorkerProviders out;
  for (const auto& pc : config.providers) {
    std::visit(
        [&](const auto& settings) {
          using T = std::decay_t<decltype(settings)>;
          const int share = std::max(1, settings.http.max_in_flight / std::max(1, worker_count));
          auto& transport = *out.transports.emplace_back(
              std::make_unique<http::Transport>(io, TransportFor(settings.http, share)));
          const auto limit = static_cast<std::size_t>(share);
          auto shared = std::make_shared<const T>(settings);
          if constexpr (std::is_same_v<T, providers::TwilioConfig>) {
            out.providers.push_back(
                std::make_unique<providers::TwilioProvider>(pc.name, shared, transport, limit));
          } else if constexpr (std::is_same_v<T, providers::SendGridConfig>) {
            out.providers.push_back(
                std::make_unique<providers::SendGridProvider>(pc.name, shared, transport, limit));
          } else if constexpr (std::is_same_v<T, providers::SmtpConfig>) {
            out.providers.push_back(
                std::make_unique<providers::SmtpProvider>(pc.name, shared, transport, limit));
          } else if constexpr (std::is_same_v<T, providers::ViberConfig>) {
            out.providers.push_back(
                std::make_unique<providers::ViberProvider>(pc.name, shared, transport, limit));
          } else if constexpr (std::is_same_v<T, providers::WebPushConfig>) {
            // The config loader checked the key; a failure here is a bug.
            auto key = providers::webpush::VapidKey::FromPrivateBase64Url(
                settings.vapid_private_key);
            if (!key) throw std::logic_error("provider " + pc.name + ": " + key.error());
            out.providers.push_back(std::make_unique<providers::WebPushProvider>(
                pc.name, shared, *std::move(key), transport, limit));
          } else if constexpr (std::is_same_v<T, providers::GenericHttpConfig>) {
            auto compiled = providers::CompiledGenericHttp::Compile(settings);
            if (!compiled) {
              throw std::logic_error("provider " + pc.name + ": " + compiled.error().front());
            }
            out.providers.push_back(std::make_unique<providers::GenericHttpProvider>(
                pc.name, *std::move(compiled), transport, limit));
          } else {
            static_assert(kAlwaysFalse<T>, "every provider kind needs a constructor here");
          }
        },
        pc.settings);
  }
  return out;
}

}  // namespace omnigate::gateway
