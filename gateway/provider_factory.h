#pragma once

#include <memory>
#include <vector>

#include "gateway/config.h"
#include "providers/http/transport.h"
#include "providers/provider.h"

namespace boost::asio {
class io_context;
}

namespace omnigate::gateway {

// The providers of one worker, with the transports they send through.
// Owned by the worker; lives and dies on its io_context thread.
struct WorkerProviders {
  std::vector<std::unique_ptr<http::Transport>> transports;
  std::vector<std::unique_ptr<providers::Provider>> providers;  // index = config index
};

// Builds one worker's share of every configured provider. `worker_count`
// divides each provider's max_in_flight between the workers.
WorkerProviders MakeWorkerProviders(const Config& config, boost::asio::io_context& io,
                                    int worker_count);

}  // namespace omnigate::gateway
