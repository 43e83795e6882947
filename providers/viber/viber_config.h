#pragma once

#include <string>

#include "providers/http_provider_config.h"

namespace omnigate::providers {

// Viber through the Viber REST Bot API (POST /pa/send_message).
struct ViberConfig {
  std::string base_url = "https://chatapi.viber.com";
  std::string auth_token;   // X-Viber-Auth-Token; secret: ${ENV} or auth_token_file
  std::string sender_name;  // required by Viber, at most 28 characters
  std::string sender_avatar;  // optional URL
  int min_api_version = 0;    // 0 = not sent; keyboards need 6+ on some clients
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
