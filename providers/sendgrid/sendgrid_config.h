#pragma once

#include <string>

#include "providers/http_provider_config.h"

namespace omnigate::providers {

// Email through the SendGrid v3 Mail Send API (POST /v3/mail/send).
struct SendGridConfig {
  std::string base_url = "https://api.sendgrid.com";
  std::string api_key;  // secret: from ${ENV} or api_key_file
  // Used when a request has no content.email.from: "Name <addr>" or addr.
  std::string from;
  // SendGrid categories attached to every message (reporting), e.g. "omnigate".
  std::string category;
  // Public key (base64 DER, from the Event Webhook settings) for verifying
  // signed event webhooks; used by the receipts route.
  std::string webhook_public_key;
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
