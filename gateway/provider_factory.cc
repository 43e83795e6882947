#include "gateway/provider_factory.h"

#include <algorithm>
#include <type_traits>

#include "providers/twilio/twilio_provider.h"

namespace omnigate::gateway {
namespace {

template <typename>
inline constexpr bool kAlwaysFalse = false;

http::TransportOptions TransportFor(const providers::HttpProviderCommon& http, int per_worker) {
  http::TransportOptions o;
  o.tls_verify = http.tls_verify;
  o.ca_file = http.ca_file;
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
          if constexpr (std::is_same_v<T, providers::TwilioConfig>) {
            out.providers.push_back(std::make_unique<providers::TwilioProvider>(
                pc.name, std::make_shared<const providers::TwilioConfig>(settings), transport,
                static_cast<std::size_t>(share)));
          } else {
            static_assert(kAlwaysFalse<T>, "every provider kind needs a constructor here");
          }
        },
        pc.settings);
  }
  return out;
}

}  // namespace omnigate::gateway
