#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gateway/http_server.h"
#include "gateway/metrics.h"

namespace omnigate::gateway {

// The dashboard page (gateway/dashboard/index.html, compiled in).
std::string_view DashboardHtml();

// GET / (the page) and GET /v1/stats (its data, GatewayMetrics::RenderStatsJson),
// both behind the admin token like every admin route; a browser asks for it
// (HTTP Basic, any user name, the token as password).
void RegisterDashboardRoutes(HttpServer& http, const GatewayMetrics& metrics,
                             std::function<std::int64_t()> now_ms);

}  // namespace omnigate::gateway
