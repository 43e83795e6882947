#pragma once

#include <chrono>
#include <string>

#include "providers/http_provider_config.h"

namespace omnigate::providers {

// SMS through the Twilio Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json).
struct TwilioConfig {
  std::string base_url = "https://api.twilio.com";
  std::string account_sid;
  std::string auth_token;  // secret: from ${ENV} or auth_token_file
  std::string from;        // E.164 number or alphanumeric sender; or:
  std::string messaging_service_sid;
  std::string status_callback;                 // URL of our POST /v1/receipts/{name}
  std::chrono::milliseconds validity_period{0};  // 0 = provider default
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
