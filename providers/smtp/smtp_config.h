#pragma once

#include <string>

#include "providers/http_provider_config.h"

namespace omnigate::providers {

// Email through an SMTP submission server (RFC 6409).
struct SmtpConfig {
  std::string url;                // smtp://host:587 (STARTTLS) or smtps://host:465 (implicit TLS)
  std::string username;           // empty: no AUTH
  std::string password;           // secret: from ${ENV} or a file
  bool starttls = true;           // on smtp://, refuse to send unless STARTTLS succeeds
  std::string from_default;       // "Name <addr>" or addr, for messages without a From
  std::string message_id_domain;  // empty: the From address's domain
  HttpProviderCommon http;        // timeouts, max_in_flight, TLS verification
};

}  // namespace omnigate::providers
