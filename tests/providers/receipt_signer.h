#pragma once
// Webhook signatures made by code that is not ours (tests/node/receipt_sign.js:
// the twilio package, Node's crypto, @sendgrid/eventwebhook), so that the
// receipt verifiers are checked against the providers' own view of the scheme.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace omnigate::providers::peers {

// True when node runs and the script's npm modules load (tests/node: npm ci).
bool NodeSignerAvailable();

// One job for the script, as JSON.
std::string TwilioJob(std::string_view auth_token, std::string_view url,
                      const std::vector<std::pair<std::string, std::string>>& params);
std::string SendGridJob(std::string_view timestamp, std::string_view body,
                        std::string_view private_key = {});
std::string ViberJob(std::string_view auth_token, std::string_view body);
// HMAC(secret, body); algorithm "sha256" or "sha1", encoding "hex" or "base64".
std::string HmacJob(std::string_view algorithm, std::string_view encoding, std::string_view secret,
                    std::string_view body);

// A result's members: strings as they are, booleans as "true"/"false".
using SignerResult = std::map<std::string, std::string, std::less<>>;

// Runs the jobs in one node process; the results in job order. Records a
// test failure (and returns fewer results) when the script fails.
std::vector<SignerResult> SignWithNode(const std::vector<std::string>& jobs);

// Skips the test when the signer cannot run, the way a missing peer should:
// visibly, with what to install.
class NodeSignedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NodeSignerAvailable()) {
      GTEST_SKIP() << "node or the npm modules of tests/node are missing "
                      "(cd tests/node && npm ci)";
    }
  }
};

}  // namespace omnigate::providers::peers
