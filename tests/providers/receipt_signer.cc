#include "tests/providers/receipt_signer.h"

#include <simdjson.h>

#include <fstream>

#include "common/json.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::providers::peers {
namespace {

std::string Script() { return std::string(OMNIGATE_SOURCE_DIR) + "/tests/node/receipt_sign.js"; }

void Member(std::string& out, std::string_view name, std::string_view value) {
  out += out.empty() ? '{' : ',';
  AppendJsonString(name, out);
  out += ':';
  AppendJsonString(value, out);
}

}  // namespace

bool NodeSignerAvailable() {
  static const bool available =
      omnigate::testing::RunCommand({"node", Script(), "--check"}, nullptr, 30'000) == 0;
  return available;
}

std::string TwilioJob(std::string_view auth_token, std::string_view url,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  Member(out, "kind", "twilio");
  Member(out, "auth_token", auth_token);
  Member(out, "url", url);
  out += ",\"params\":[";
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0) out += ',';
    out += '[';
    AppendJsonString(params[i].first, out);
    out += ',';
    AppendJsonString(params[i].second, out);
    out += ']';
  }
  return out + "]}";
}

std::string SendGridJob(std::string_view timestamp, std::string_view body,
                        std::string_view private_key) {
  std::string out;
  Member(out, "kind", "sendgrid");
  Member(out, "timestamp", timestamp);
  Member(out, "body", body);
  if (!private_key.empty()) Member(out, "private_key", private_key);
  return out + '}';
}

std::string ViberJob(std::string_view auth_token, std::string_view body) {
  std::string out;
  Member(out, "kind", "viber");
  Member(out, "auth_token", auth_token);
  Member(out, "body", body);
  return out + '}';
}

std::string HmacJob(std::string_view algorithm, std::string_view encoding, std::string_view secret,
                    std::string_view body) {
  std::string out;
  Member(out, "kind", "hmac");
  Member(out, "algorithm", algorithm);
  Member(out, "encoding", encoding);
  Member(out, "secret", secret);
  Member(out, "body", body);
  return out + '}';
}

std::vector<SignerResult> SignWithNode(const std::vector<std::string>& jobs) {
  std::string input = "[";
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (i > 0) input += ',';
    input += jobs[i];
  }
  input += ']';
  omnigate::testing::TempDir dir;
  const std::string path = dir.File("jobs.json");
  std::ofstream(path) << input;
  std::string out;
  const int code = omnigate::testing::RunCommand({"node", Script(), path}, &out, 30'000);
  std::vector<SignerResult> results;
  EXPECT_EQ(code, 0) << "receipt_sign.js failed on " << input;
  if (code != 0) return results;
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(out).get(array) != simdjson::SUCCESS) {
    ADD_FAILURE() << "receipt_sign.js printed no JSON array: " << out;
    return results;
  }
  for (const simdjson::dom::element e : array) {
    SignerResult& r = results.emplace_back();
    simdjson::dom::object object;
    if (e.get(object) != simdjson::SUCCESS) continue;
    for (const auto field : object) {
      std::string_view s;
      bool b = false;
      if (field.value.get(s) == simdjson::SUCCESS) {
        r.emplace(std::string(field.key), std::string(s));
      } else if (field.value.get(b) == simdjson::SUCCESS) {
        r.emplace(std::string(field.key), b ? "true" : "false");
      }
    }
  }
  EXPECT_EQ(results.size(), jobs.size()) << out;
  return results;
}

}  // namespace omnigate::providers::peers
