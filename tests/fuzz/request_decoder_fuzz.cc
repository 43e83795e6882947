// Fuzzes the send-request decoder (gateway/request.h, RequestDecoder) on
// both lanes. Any bytes must end in a request or a validation error, never
// in a crash, UB or a leak; and an accepted request must hold what the rest of
// the pipeline relies on without checking again (DESIGN.md §4).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/request.h"
#include "providers/webpush/webpush_crypto.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using omnigate::Channel;
using omnigate::gateway::Lane;
using omnigate::gateway::SendRequest;

bool IsE164(const std::string& s) {
  return s.size() >= 8 && s.size() <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void CheckAccepted(const SendRequest& r) {
  FUZZ_CHECK(!r.id.empty() && r.id.size() <= 128);
  FUZZ_CHECK(std::all_of(r.id.begin(), r.id.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }));
  FUZZ_CHECK(!r.channels.empty());
  for (std::size_t i = 0; i < r.channels.size(); ++i) {
    FUZZ_CHECK(std::count(r.channels.begin(), r.channels.end(), r.channels[i]) == 1);
    switch (r.channels[i]) {
      case Channel::sms:
        FUZZ_CHECK(r.sms.has_value());
        FUZZ_CHECK(IsE164(r.to.phone));
        break;
      case Channel::viber:
        FUZZ_CHECK(r.viber.has_value());
        FUZZ_CHECK(!r.to.viber.empty());
        break;
      case Channel::email:
        FUZZ_CHECK(r.email.has_value());
        FUZZ_CHECK(r.to.email.find('@') != std::string::npos);
        break;
      case Channel::webpush: {
        FUZZ_CHECK(r.webpush.has_value() && r.to.webpush.has_value());
        FUZZ_CHECK(r.webpush->payload.size() <= omnigate::providers::webpush::kMaxPlaintextBytes);
        // The decoder's key checks and the adapter's decoding are separate
        // code: what one accepts, the other must be able to use.
        const auto p256dh = omnigate::providers::webpush::Base64UrlDecode(r.to.webpush->p256dh);
        const auto auth = omnigate::providers::webpush::Base64UrlDecode(r.to.webpush->auth);
        FUZZ_CHECK(p256dh && p256dh->size() == 65 && (*p256dh)[0] == '\x04');
        FUZZ_CHECK(auth && auth->size() == 16);
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One decoder reused across inputs, as a worker reuses its own: state left
  // behind by one request must not leak into the next.
  static omnigate::gateway::RequestDecoder decoder;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto transactional = decoder.Decode(bytes, Lane::transactional);
  auto bulk = decoder.Decode(bytes, Lane::bulk);
  // The topic's lane is only a default: it never changes whether or why a
  // request is rejected.
  FUZZ_CHECK(transactional.has_value() == bulk.has_value());
  if (!transactional) {
    FUZZ_CHECK(!transactional.error().rule.empty());
    FUZZ_CHECK(transactional.error().ToString() == bulk.error().ToString());
    return 0;
  }
  CheckAccepted(*transactional);
  CheckAccepted(*bulk);
  FUZZ_CHECK(transactional->id == bulk->id);
  FUZZ_CHECK(transactional->channels == bulk->channels);
  // Either the request named its lane (both the same) or each took its default.
  FUZZ_CHECK(transactional->lane == bulk->lane ||
             (transactional->lane == Lane::transactional && bulk->lane == Lane::bulk));
  return 0;
}
