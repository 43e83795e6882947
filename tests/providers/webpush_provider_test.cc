#include "providers/webpush/webpush_provider.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnigate::providers {
namespace {

using namespace std::chrono_literals;

http::Response Status(long code,  // NOLINT(google-runtime-int)
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Response r;
  r.status = code;
  r.headers = std::move(headers);
  return r;
}

// ------------------------------------------------------------------ mapping

TEST(WebPushProviderMapping, CreatedWithLocationIsAccepted) {
  auto r = WebPushProvider::MapResponse(
      Status(201, {{"location", "https://push.example.net/message/m-1"}}));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.provider_message_id, "https://push.example.net/message/m-1");
  EXPECT_EQ(WebPushProvider::MapResponse(Status(201)).status, SendStatus::accepted);
}

TEST(WebPushProviderMapping, GoneSubscriptionIsInvalidAddress) {
  for (long s : {404L, 410L}) {  // NOLINT(google-runtime-int)
    auto r = WebPushProvider::MapResponse(Status(s));
    EXPECT_EQ(r.status, SendStatus::invalid_address) << s;
    EXPECT_EQ(r.reason, "subscription_gone") << s;
  }
}

TEST(WebPushProviderMapping, PayloadTooLargeIsPermanent) {
  auto r = WebPushProvider::MapResponse(Status(413));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "payload_too_large");
}

TEST(WebPushProviderMapping, TooManyRequestsHonoursRetryAfter) {
  auto r = WebPushProvider::MapResponse(Status(429, {{"retry-after", "7"}}));
  EXPECT_EQ(r.status, SendStatus::throttled);
  EXPECT_EQ(r.retry_after, 7s);
}

TEST(WebPushProviderMapping, ClientAndServerErrors) {
  auto bad = WebPushProvider::MapResponse(Status(400));
  EXPECT_EQ(bad.status, SendStatus::permanent);
  EXPECT_EQ(bad.reason, "http_400");
  for (long s : {401L, 403L}) {  // NOLINT(google-runtime-int)
    auto r = WebPushProvider::MapResponse(Status(s));
    EXPECT_EQ(r.status, SendStatus::permanent) << s;
    EXPECT_EQ(r.reason, "auth") << s;
  }
  auto server = WebPushProvider::MapResponse(Status(500));
  EXPECT_EQ(server.status, SendStatus::retry);
  EXPECT_EQ(server.reason, "http_500");
  http::Response timeout;
  timeout.error = http::TransportError::timeout;
  EXPECT_EQ(WebPushProvider::MapResponse(timeout).status, SendStatus::retry);
  http::Response tls;
  tls.error = http::TransportError::tls;
  EXPECT_EQ(WebPushProvider::MapResponse(tls).status, SendStatus::permanent);
}

}  // namespace
}  // namespace omnigate::providers
