#pragma once

#include <string>
#include <utility>
#include <vector>

#include "providers/channel.h"
#include "providers/http_provider_config.h"

namespace omnigate::providers {

// Any HTTP API described in config: for the many regional SMS and Viber
// aggregators that have no adapter of their own. url, header values and body
// are templates over the message (see generic_template.h).
struct GenericHttpConfig {
  Channel channel = Channel::sms;
  std::string method = "POST";  // GET, POST, PUT
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value template
  std::string body;
  // Success: the status is one of these, and, when set, the body check passes.
  std::vector<int> success_status = {200, 201, 202};
  std::string success_json_pointer;  // RFC 6901, e.g. /status
  std::string success_equals;        // value at the pointer, compared as text
  std::string success_regex;         // ECMAScript regex searched in the body
  // The provider's message id: from a header, a JSON pointer, or the first
  // capture group of a regex over the body (first one configured wins).
  std::string message_id_header;
  std::string message_id_json_pointer;
  std::string message_id_regex;
  // A non-success body matching this is the recipient's fault.
  std::string invalid_address_regex;
  HttpProviderCommon http;
};

}  // namespace omnigate::providers
