#include "gateway/dashboard.h"

#include <utility>

namespace omnigate::gateway {

void RegisterDashboardRoutes(HttpServer& http, const GatewayMetrics& metrics,
                             std::function<std::int64_t()> now_ms) {
  http.Route("GET", "/", [](const HttpRequest&) {
    HttpResponse r{200, "text/html; charset=utf-8", std::string(DashboardHtml())};
    // The page loads nothing from elsewhere: no CDN, no inline frames.
    r.headers = {{"Content-Security-Policy",
                  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                  "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                 {"X-Content-Type-Options", "nosniff"}};
    return r;
  });
  http.Route("GET", "/v1/stats", [&metrics, now_ms = std::move(now_ms)](const HttpRequest&) {
    return HttpResponse{200, "application/json", metrics.RenderStatsJson(now_ms())};
  });
}

}  // namespace omnigate::gateway
