// The delivery policy's decisions on both state-store backends, with a
// manual clock: windows are crossed by moving the clock, never by waiting.
#include "gateway/policy/policy.h"
#include "gateway/policy/quiet_hours.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/gateway/state/store_backends.h"

namespace omnigate::policy {
namespace {

using namespace std::chrono_literals;
using gateway::FrequencyCap;
using gateway::Lane;
using gateway::LaneScope;
using state::Family;
using state::Op;
using state::StoreStatus;
using namespace state::testing_backends;
using Verdict = Decision::Verdict;

SendRequest Sms(std::string id, std::string phone = "+40700000001", std::string text = "hello") {
  SendRequest r;
  r.id = std::move(id);
  r.tenant = "shop";
  r.lane = Lane::bulk;
  r.to.phone = std::move(phone);
  r.to.email = "Ana@Example.COM";
  r.channels = {Channel::sms};
  r.sms = gateway::SmsContent{std::move(text), "Shop"};
  r.email = gateway::EmailContent{"Shop <n@shop.example>", "Hi", "", "hello", ""};
  return r;
}

template <typename Backend>
class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() : backend_(clock_) {}

  // Runs the checks of `req` as the worker does, and (when it is sent)
  // records the send.
  Decision Check(const SendRequest& req, std::string_view origin, bool record_send = true) {
    RequestPolicy p;
    p.Prepare(req, tp_, origin, clock_.Now());
    std::vector<Op> ops(p.ops().begin(), p.ops().end());
    EXPECT_EQ(RunOps(backend_.store(), ops), StoreStatus::ok);
    std::copy(ops.begin(), ops.end(), p.ops().begin());
    Decision d = p.Decide(clock_.Now());
    if (d.verdict == Verdict::send && record_send) {
      Channel channel = req.channels[0];
      for (Channel c : req.channels) {
        if (d.skipped[static_cast<std::size_t>(c)].empty()) {
          channel = c;
          break;
        }
      }
      p.PrepareSent(channel, "sms-main", "SM" + req.id, clock_.Now());
      std::vector<Op> sent(p.ops().begin(), p.ops().end());
      EXPECT_EQ(RunOps(backend_.store(), sent), StoreStatus::ok);
    }
    return d;
  }

  void Put(Family f, std::string key, const AddressRecord& r, std::chrono::milliseconds ttl = {}) {
    std::vector<Op> ops{{.type = Op::Type::put, .family = f, .key = std::move(key),
                         .value = EncodeAddressRecord(r), .ttl = ttl}};
    ASSERT_EQ(RunOps(backend_.store(), ops), StoreStatus::ok);
  }
  void Erase(Family f, std::string key) {
    std::vector<Op> ops{{.type = Op::Type::erase, .family = f, .key = std::move(key)}};
    ASSERT_EQ(RunOps(backend_.store(), ops), StoreStatus::ok);
  }

  ManualClock clock_{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20'000))};
  Backend backend_;
  gateway::TenantPolicy tp_;
};

using Backends = ::testing::Types<EmbeddedBackend, RedisBackend>;
TYPED_TEST_SUITE(PolicyTest, Backends, BackendNames);

TYPED_TEST(PolicyTest, ARepeatedIdIsADuplicateUntilTheWindowEnds) {
  this->tp_.dedup_window = 24h;
  EXPECT_EQ(this->Check(Sms("o-1"), "req/0/10").verdict, Verdict::send);
  const Decision repeat = this->Check(Sms("o-1"), "req/0/11");
  EXPECT_EQ(repeat.verdict, Verdict::duplicate);
  EXPECT_EQ(repeat.outcome, Outcome::duplicate_id);
  EXPECT_EQ(repeat.reason.rfind("id: ", 0), 0u) << repeat.reason;
  // Another tenant's request with the same id is its own.
  SendRequest other = Sms("o-1");
  other.tenant = "crm";
  EXPECT_EQ(this->Check(other, "req/0/12").verdict, Verdict::send);
  this->clock_.Advance(24h - 1ms);
  EXPECT_EQ(this->Check(Sms("o-1"), "req/0/13").verdict, Verdict::duplicate);
  this->clock_.Advance(1ms);
  EXPECT_EQ(this->Check(Sms("o-1"), "req/0/14").verdict, Verdict::send) << "the window is over";
}

TYPED_TEST(PolicyTest, TheSameRecordRedeliveredIsSentOnlyIfItsSendWasNotRecorded) {
  // Claimed, then the process died before the provider accepted it: the
  // redelivered record (same origin) is sent.
  EXPECT_EQ(this->Check(Sms("o-2"), "req/3/77", false).verdict, Verdict::send);
  EXPECT_EQ(this->Check(Sms("o-2"), "req/3/77").verdict, Verdict::send);
  // Now the send is recorded: the next redelivery gets the recorded result.
  const Decision again = this->Check(Sms("o-2"), "req/3/77");
  EXPECT_EQ(again.verdict, Verdict::already_sent);
  EXPECT_EQ(again.provider, "sms-main");
  EXPECT_EQ(again.provider_message_id, "SMo-2");
  EXPECT_EQ(again.channel, Channel::sms) << "the channel it went out on";
  // A different record with the id is still a duplicate.
  EXPECT_EQ(this->Check(Sms("o-2"), "req/3/78").verdict, Verdict::duplicate);
}

TYPED_TEST(PolicyTest, SameContentToTheSameAddressIsADuplicateWhenTheTenantAsks) {
  EXPECT_EQ(this->Check(Sms("a-1"), "r/0/1").verdict, Verdict::send);
  EXPECT_EQ(this->Check(Sms("a-2"), "r/0/2").verdict, Verdict::send) << "off by default";
  this->tp_.content_dedup = true;
  this->tp_.content_window = 10min;
  EXPECT_EQ(this->Check(Sms("b-1"), "r/0/3").verdict, Verdict::send);
  const Decision d = this->Check(Sms("b-2"), "r/0/4");
  EXPECT_EQ(d.verdict, Verdict::duplicate);
  EXPECT_EQ(d.outcome, Outcome::duplicate_content);
  EXPECT_NE(d.reason.find("b-1"), std::string::npos) << d.reason;
  // Other text, or another address: not the same message.
  EXPECT_EQ(this->Check(Sms("b-3", "+40700000001", "other"), "r/0/5").verdict, Verdict::send);
  EXPECT_EQ(this->Check(Sms("b-4", "+40700000002"), "r/0/6").verdict, Verdict::send);
  // The same phone written differently is the same address.
  EXPECT_EQ(this->Check(Sms("b-5", "+40700000002"), "r/0/7").verdict, Verdict::duplicate);
  this->clock_.Advance(10min);
  EXPECT_EQ(this->Check(Sms("b-6"), "r/0/8").verdict, Verdict::send) << "the window is over";
}

TYPED_TEST(PolicyTest, ASuppressedChannelIsSkippedAndItsRemovalOrExpiryLiftsIt) {
  SendRequest both = Sms("s-1");
  both.channels = {Channel::sms, Channel::email};
  const std::string sms_key = AddressKey("shop", "+40700000001", Channel::sms);
  // Written as an operator would type it: normalised to the same key.
  ASSERT_EQ(NormalizeAddress(Channel::sms, "0040 (700) 000-001").value(), "+40700000001");
  this->Put(Family::suppression, sms_key, {"STOP", "sms-keyword", 1, 0});

  Decision d = this->Check(both, "r/1/1");
  EXPECT_EQ(d.verdict, Verdict::send);
  EXPECT_NE(d.skipped[static_cast<std::size_t>(Channel::sms)].find("STOP"), std::string::npos);
  EXPECT_TRUE(d.skipped[static_cast<std::size_t>(Channel::email)].empty()) << "email is next";

  d = this->Check(Sms("s-2"), "r/1/2");
  EXPECT_EQ(d.verdict, Verdict::suppressed);
  EXPECT_EQ(d.outcome, Outcome::suppressed_suppression);
  EXPECT_EQ(d.reason.rfind("suppression: sms opted out (STOP) from sms-keyword", 0), 0u)
      << d.reason;
  // The request's number as a sender may write it: looked up normalised.
  EXPECT_EQ(this->Check(Sms("s-2b", "0040 (700) 000-001"), "r/1/9").verdict, Verdict::suppressed);
  EXPECT_EQ(this->Check(Sms("s-2c", "+40 700 000 001"), "r/1/10").verdict, Verdict::suppressed);

  this->Erase(Family::suppression, sms_key);
  EXPECT_EQ(this->Check(Sms("s-3"), "r/1/3").verdict, Verdict::send);

  // All channels, for an hour; the email domain's case does not matter.
  this->Put(Family::suppression, AddressKey("shop", "Ana@example.com", std::nullopt),
            {"complaint", "support", 1, 0}, 1h);
  SendRequest email = Sms("s-4");
  email.channels = {Channel::email};
  EXPECT_EQ(this->Check(email, "r/1/4").verdict, Verdict::suppressed);
  this->clock_.Advance(1h);
  email.id = "s-5";
  EXPECT_EQ(this->Check(email, "r/1/5").verdict, Verdict::send) << "the suppression expired";
}

TYPED_TEST(PolicyTest, BulkNeedsARecordedOptInWhereTheTenantRequiresIt) {
  this->tp_.bulk_requires_opt_in = true;
  Decision d = this->Check(Sms("c-1"), "r/2/1");
  EXPECT_EQ(d.verdict, Verdict::suppressed);
  EXPECT_EQ(d.outcome, Outcome::suppressed_no_consent);
  SendRequest otp = Sms("c-2");
  otp.lane = Lane::transactional;
  EXPECT_EQ(this->Check(otp, "r/2/2").verdict, Verdict::send) << "transactional is exempt";

  this->Put(Family::consent, AddressKey("shop", "+40700000001", Channel::sms),
            {"", "signup-form", 1, 0});
  EXPECT_EQ(this->Check(Sms("c-3"), "r/2/3").verdict, Verdict::send);
  SendRequest email = Sms("c-4");
  email.channels = {Channel::email, Channel::sms};
  d = this->Check(email, "r/2/4");
  EXPECT_EQ(d.verdict, Verdict::send);
  EXPECT_EQ(d.skipped_outcome[static_cast<std::size_t>(Channel::email)], Outcome::skipped_no_consent);
  // An opt-in for every channel covers email too.
  this->Put(Family::consent, AddressKey("shop", "Ana@example.com", std::nullopt),
            {"", "double-opt-in", 1, 0});
  email.id = "c-5";
  d = this->Check(email, "r/2/5");
  EXPECT_EQ(d.verdict, Verdict::send);
  EXPECT_TRUE(d.skipped[static_cast<std::size_t>(Channel::email)].empty());
  // An opt-out beats an opt-in.
  this->Put(Family::suppression, AddressKey("shop", "Ana@example.com", Channel::email),
            {"unsubscribed", "link", 1, 0});
  email.id = "c-6";
  d = this->Check(email, "r/2/6");
  EXPECT_EQ(d.verdict, Verdict::send);
  EXPECT_EQ(d.skipped_outcome[static_cast<std::size_t>(Channel::email)], Outcome::skipped_suppression);
}

TYPED_TEST(PolicyTest, CapsCountAcceptedSendsInEveryWindowAtOnce) {
  this->tp_.frequency_caps = {FrequencyCap{std::nullopt, LaneScope::bulk, {{1, 1h}, {3, 24h}}}};
  SendRequest r = Sms("f-0");
  r.to.user_id = "u-7";
  auto check = [&](const std::string& id, bool record = true) {
    r.id = id;
    return this->Check(r, "r/4/" + id, record);
  };
  EXPECT_EQ(check("f-1").verdict, Verdict::send);  // t0
  this->clock_.Advance(30min);
  Decision d = check("f-2");
  EXPECT_EQ(d.verdict, Verdict::suppressed);
  EXPECT_EQ(d.outcome, Outcome::suppressed_frequency_cap);
  EXPECT_EQ(d.reason.rfind("frequency_cap: 1/1h across channels", 0), 0u) << d.reason;
  this->clock_.Advance(30min - 1ms);
  EXPECT_EQ(check("f-3").verdict, Verdict::suppressed) << "1 ms before the hour";
  this->clock_.Advance(1ms);
  EXPECT_EQ(check("f-4").verdict, Verdict::send);  // t0+1h
  this->clock_.Advance(1h);
  EXPECT_EQ(check("f-5").verdict, Verdict::send);  // t0+2h: the third in 24 h
  this->clock_.Advance(1h);
  d = check("f-6");
  EXPECT_EQ(d.verdict, Verdict::suppressed);
  EXPECT_NE(d.reason.find("3/1d"), std::string::npos) << d.reason;
  // Attempts that were not sent are not counted: at t0+24h the first send
  // leaves the window and one more fits.
  this->clock_.Advance(21h);
  EXPECT_EQ(check("f-7").verdict, Verdict::send);
  // The transactional lane is not under a bulk cap; the user id, not the
  // phone, is the recipient.
  r.lane = Lane::transactional;
  EXPECT_EQ(check("f-8").verdict, Verdict::send);
  r.lane = Lane::bulk;
  r.to.phone = "+40700000009";
  EXPECT_EQ(check("f-9").verdict, Verdict::suppressed);
}

TYPED_TEST(PolicyTest, APerChannelCapSkipsToTheNextChannel) {
  this->tp_.frequency_caps = {FrequencyCap{Channel::sms, LaneScope::all, {{1, 1h}}}};
  SendRequest r = Sms("p-1");
  r.channels = {Channel::sms, Channel::email};
  EXPECT_EQ(this->Check(r, "r/5/1").verdict, Verdict::send);  // sms, counted
  r.id = "p-2";
  const Decision d = this->Check(r, "r/5/2");
  EXPECT_EQ(d.verdict, Verdict::send);
  EXPECT_EQ(d.skipped_outcome[static_cast<std::size_t>(Channel::sms)], Outcome::skipped_frequency_cap);
  EXPECT_TRUE(d.skipped[static_cast<std::size_t>(Channel::email)].empty());
  // The email send did not count against the sms cap; an hour later sms is free.
  this->clock_.Advance(1h);
  r.id = "p-3";
  EXPECT_TRUE(this->Check(r, "r/5/3").skipped[static_cast<std::size_t>(Channel::sms)].empty());
}

struct NormalizeCase {
  Channel channel;
  const char* in;
  const char* out;  // nullptr: refused
};

class NormalizeTest : public ::testing::TestWithParam<NormalizeCase> {};

TEST_P(NormalizeTest, GivesOneFormOrAReason) {
  const auto& c = GetParam();
  auto r = NormalizeAddress(c.channel, c.in);
  if (c.out == nullptr) {
    ASSERT_FALSE(r) << c.in << " -> " << r.value();
    EXPECT_FALSE(r.error().empty());
  } else {
    ASSERT_TRUE(r) << c.in << ": " << r.error();
    EXPECT_EQ(r.value(), c.out);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Addresses, NormalizeTest,
    ::testing::Values(NormalizeCase{Channel::sms, "+40700000001", "+40700000001"},
                      NormalizeCase{Channel::sms, "+40 700 000 001", "+40700000001"},
                      NormalizeCase{Channel::sms, "0040-700-000-001", "+40700000001"},
                      NormalizeCase{Channel::viber, "+1 (415) 555.0100", "+14155550100"},
                      NormalizeCase{Channel::sms, "0700000001", nullptr},
                      NormalizeCase{Channel::sms, "+0700000001", nullptr},
                      NormalizeCase{Channel::sms, "+40abc", nullptr},
                      NormalizeCase{Channel::sms, "+123", nullptr},
                      NormalizeCase{Channel::sms, "+123456789012345", "+123456789012345"},
                      NormalizeCase{Channel::sms, "00 123456789012345", "+123456789012345"},
                      NormalizeCase{Channel::sms, "+1234567890123456", nullptr},
                      NormalizeCase{Channel::sms, "+1234567890123456789012345678901234567890", nullptr},
                      NormalizeCase{Channel::sms, "+40700+000001", nullptr},
                      NormalizeCase{Channel::email, " Ana@Example.COM ", "Ana@example.com"},
                      NormalizeCase{Channel::email, "no-at-sign", nullptr},
                      NormalizeCase{Channel::email, "a@b@c.io", nullptr},
                      NormalizeCase{Channel::email, "a b@c.io", nullptr},
                      NormalizeCase{Channel::webpush, "https://push.example.net/s/1",
                                    "https://push.example.net/s/1"},
                      NormalizeCase{Channel::webpush, "http://push.example.net/s/1", nullptr}));

TEST(AddressRecord, RoundTripsThroughJson) {
  const AddressRecord r{"said \"stop\"", "sms\nkeyword", 1234, 5678};
  const auto back = DecodeAddressRecord(EncodeAddressRecord(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->reason, r.reason);
  EXPECT_EQ(back->source, r.source);
  EXPECT_EQ(back->created_ms, 1234);
  EXPECT_EQ(back->expires_ms, 5678);
  EXPECT_FALSE(DecodeAddressRecord("not json"));
}

}  // namespace
}  // namespace omnigate::policy

namespace omnigate::policy {
namespace {

using gateway::Lane;
using gateway::LaneScope;
using gateway::QuietHoursRule;
using std::chrono::sys_days;
using namespace std::chrono;

template <typename Backend>
class DeferTest : public PolicyTest<Backend> {};
TYPED_TEST_SUITE(DeferTest, ::testing::Types<state::testing_backends::EmbeddedBackend>,
                 state::testing_backends::BackendNames);

TYPED_TEST(DeferTest, OverACapWithDeferWaitsUntilTheWindowAllowsOneMore) {
  this->tp_.over_cap = gateway::OverCap::defer;
  this->tp_.frequency_caps = {
      gateway::FrequencyCap{std::nullopt, LaneScope::bulk, {{1, 1h}, {2, 24h}}}};
  SendRequest r = Sms("d-1");
  r.to.user_id = "u-9";
  const auto t0 = this->clock_.Now();
  EXPECT_EQ(this->Check(r, "r/9/1").verdict, Decision::Verdict::send);
  this->clock_.Advance(10min);
  r.id = "d-2";
  Decision d = this->Check(r, "r/9/2");
  EXPECT_EQ(d.verdict, Decision::Verdict::deferred);
  EXPECT_EQ(d.outcome, Outcome::deferred_frequency_cap);
  EXPECT_EQ(d.defer_until, t0 + 1h);
  // At t0+1h it goes; the next one is then held by 2/24h until t0+24h.
  this->clock_.Advance(50min);
  EXPECT_EQ(this->Check(r, "r/9/2").verdict, Decision::Verdict::send);
  this->clock_.Advance(1h);
  r.id = "d-3";
  d = this->Check(r, "r/9/3");
  EXPECT_EQ(d.verdict, Decision::Verdict::deferred);
  EXPECT_EQ(d.defer_until, t0 + 24h);
}

SendRequest Bulk(std::string tz = "Europe/Bucharest") {
  SendRequest r = Sms("q-1");
  r.lane = Lane::bulk;
  r.to.timezone = std::move(tz);
  return r;
}

system_clock::time_point Utc(int y, unsigned m, unsigned d, int h, int min) {
  return sys_days(year(y) / month(m) / day(d)) + hours(h) + minutes(min);
}

TEST(QuietHours, HoldBulkSendsInTheRecipientsNightAcrossMidnightAndDst) {
  gateway::TenantPolicy tp;
  tp.timezone = "UTC";
  tp.quiet_hours = {QuietHoursRule{21 * 60, 8 * 60, LaneScope::bulk, {Channel::sms, Channel::viber}}};
  TimeZones zones;
  // 23:30 EEST on the night the clocks go back: released at 08:00 EET.
  auto hold = QuietHoursHold(Bulk(), tp, Channel::sms, zones, Utc(2026, 10, 24, 20, 30));
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->until, Utc(2026, 10, 25, 6, 0));
  EXPECT_EQ(hold->reason.rfind("quiet_hours: 21:00-08:00 Europe/Bucharest for sms; released at "
                               "2026-10-25T06:00:00Z", 0), 0u) << hold->reason;
  // 01:30 EET on the night the clocks go forward: released at 08:00 EEST.
  hold = QuietHoursHold(Bulk(), tp, Channel::sms, zones, Utc(2026, 3, 28, 23, 30));
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->until, Utc(2026, 3, 29, 5, 0));
  // After midnight on an ordinary night (03:00 EET).
  hold = QuietHoursHold(Bulk(), tp, Channel::sms, zones, Utc(2026, 12, 2, 1, 0));
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->until, Utc(2026, 12, 2, 6, 0));
  // 08:00 local exactly: the window is over.
  EXPECT_FALSE(QuietHoursHold(Bulk(), tp, Channel::sms, zones, Utc(2026, 12, 2, 6, 0)));
  // Daytime, another channel, the transactional lane: not held.
  EXPECT_FALSE(QuietHoursHold(Bulk(), tp, Channel::sms, zones, Utc(2026, 12, 2, 12, 0)));
  EXPECT_FALSE(QuietHoursHold(Bulk(), tp, Channel::email, zones, Utc(2026, 12, 2, 1, 0)));
  SendRequest otp = Bulk();
  otp.lane = Lane::transactional;
  EXPECT_FALSE(QuietHoursHold(otp, tp, Channel::sms, zones, Utc(2026, 12, 2, 1, 0)));
  // No zone in the request: the tenant's (UTC): 01:00 UTC is inside, until 08:00 UTC.
  hold = QuietHoursHold(Bulk(""), tp, Channel::sms, zones, Utc(2026, 12, 2, 1, 0));
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->until, Utc(2026, 12, 2, 8, 0));
  // An unknown zone falls back to the tenant's and says so.
  hold = QuietHoursHold(Bulk("Mars/Olympus"), tp, Channel::sms, zones, Utc(2026, 12, 2, 1, 0));
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold->until, Utc(2026, 12, 2, 8, 0));
  EXPECT_NE(hold->reason.find("'Mars/Olympus' is unknown"), std::string::npos) << hold->reason;
}

}  // namespace
}  // namespace omnigate::policy

namespace omnigate::policy {
namespace {

TEST(PolicyPending, SendsOnTheirWayCountAgainstACapBeforeTheStoreHasThem) {
  gateway::TenantPolicy tp;
  tp.frequency_caps = {gateway::FrequencyCap{std::nullopt, gateway::LaneScope::all, {{2, std::chrono::hours(1)}}}};
  SendRequest r = Sms("burst-1");
  r.to.user_id = "u-burst";
  RequestPolicy p;
  const auto now = std::chrono::system_clock::now();
  p.Prepare(r, tp, "r/0/1", now);  // nothing in the store: every op answers "not found"
  std::vector<std::uint64_t> keys;
  p.CapKeyHashesFor(Channel::sms, keys);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], RequestPolicy::CapKeyHash("{shop|u:u-burst}|*|all"));
  auto pending = [&](int n) {
    return [&, n](std::uint64_t key) { return key == keys[0] ? n : 0; };
  };
  EXPECT_EQ(p.Decide(now, pending(1)).verdict, Decision::Verdict::send);
  const Decision d = p.Decide(now, pending(2));
  EXPECT_EQ(d.verdict, Decision::Verdict::suppressed);
  EXPECT_EQ(d.outcome, Outcome::suppressed_frequency_cap);
}

}  // namespace
}  // namespace omnigate::policy

namespace omnigate::policy {
namespace {

// A request's ops are built in memory an earlier request of the thread
// used (RequestPolicy::Buffers): nothing of the earlier one may show.
TEST(PolicyBuffers, AReusedRequestBuildsWhatAFreshOneDoes) {
  const auto now = std::chrono::system_clock::now();
  gateway::TenantPolicy plain;
  plain.frequency_caps = {FrequencyCap{Channel::sms, LaneScope::all, {{5, std::chrono::hours(1)}}}};
  SendRequest small = Sms("small-1", "+40700000009");
  auto build = [&](RequestPolicy& p) {
    p.Prepare(small, plain, "t/1/2", now);
    std::vector<Op> ops(p.ops().begin(), p.ops().end());
    p.PrepareSent(Channel::sms, "sms-main", "SM-small", now);
    ops.insert(ops.end(), p.ops().begin(), p.ops().end());
    return ops;
  };
  std::vector<Op> fresh;
  std::thread([&] {  // a thread of its own: no buffers to reuse
    RequestPolicy p;
    fresh = build(p);
  }).join();
  // A bigger request first: content dedup, opt-ins, two channels, caps of
  // both kinds, results and flags set on every op.
  gateway::TenantPolicy rich = plain;
  rich.content_dedup = true;
  rich.bulk_requires_opt_in = true;
  rich.frequency_caps.push_back(FrequencyCap{std::nullopt, LaneScope::bulk, {{3, std::chrono::hours(24)}}});
  SendRequest big = Sms("a-much-longer-request-id-than-the-next-one", "+40700000001");
  big.tenant = "a-tenant-with-a-long-name";
  big.channels = {Channel::email, Channel::sms};
  {
    RequestPolicy p;
    p.Prepare(big, rich, "a-long-topic-name/11/123456789", now);
    ASSERT_GT(p.ops().size(), fresh.size());
    for (Op& op : p.ops()) {
      op.found = true;
      op.result = "left over from the request before";
      op.expected = "left over";
      op.due_ms = 42;
    }
    p.PrepareSent(Channel::email, "ses", "a-provider-id-long-enough-to-allocate", now);
  }
  RequestPolicy p;
  const std::vector<Op> reused = build(p);
  ASSERT_EQ(reused.size(), fresh.size());
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    EXPECT_EQ(reused[i], fresh[i]) << "op " << i << ": " << reused[i].key << " / " << fresh[i].key;
  }
}

// Suspend() gives the buffers back while the provider answers: the send's
// record is then what it would have been without it, whatever the thread's
// next requests did with those buffers meanwhile.
TEST(PolicyBuffers, ASuspendedRequestRecordsWhatItWouldHave) {
  const auto now = std::chrono::system_clock::now();
  gateway::TenantPolicy tp;
  tp.frequency_caps = {
      FrequencyCap{Channel::sms, LaneScope::all, {{5, std::chrono::hours(1)}}},
      FrequencyCap{Channel::email, LaneScope::all, {{2, std::chrono::hours(1)}}},
      FrequencyCap{std::nullopt, LaneScope::all, {{20, std::chrono::hours(24)}}}};
  SendRequest req = Sms("suspended-1", "+40700000011");
  req.channels = {Channel::sms, Channel::email};
  req.to.email = "Someone@Example.COM";
  SendRequest other = Sms("a-request-in-between-with-a-longer-id", "+40700000099");
  other.tenant = "another-tenant-whose-name-is-long";
  for (const Channel sent_on : {Channel::sms, Channel::email}) {
    // Without Suspend: the record as PrepareSent builds it from the check.
    RequestPolicy plain;
    plain.Prepare(req, tp, "requests/3/77", now);
    std::vector<std::uint64_t> plain_caps;
    plain.CapKeyHashesFor(Channel::sms, plain_caps);
    plain.PrepareSent(sent_on, "prov", "PID-1", now);
    const std::vector<Op> want(plain.ops().begin(), plain.ops().end());
    ASSERT_EQ(want.size(), 3U);  // the record, the channel's cap, the across-channel cap
    // Suspended on sms after the reservation; other requests of the thread
    // take the buffers and fill them with their own keys meanwhile.
    RequestPolicy p;
    p.Prepare(req, tp, "requests/3/77", now);
    std::vector<std::uint64_t> caps;
    p.CapKeyHashesFor(Channel::sms, caps);
    EXPECT_EQ(caps, plain_caps);
    p.Suspend(Channel::sms);
    EXPECT_TRUE(p.ops().empty());
    for (int i = 0; i < 3; ++i) {
      RequestPolicy q;
      q.Prepare(other, tp, "a-long-topic-name/11/123456789", now);
      q.PrepareSent(Channel::sms, "another-provider", "an-id-long-enough-to-allocate", now);
    }
    // Sent on sms (as suspended) or, after a fallback, on email: the caps
    // counted are the channel's it went on.
    p.PrepareSent(sent_on, "prov", "PID-1", now);
    const std::vector<Op> got(p.ops().begin(), p.ops().end());
    ASSERT_EQ(got.size(), want.size()) << ToString(sent_on);
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i], want[i]) << ToString(sent_on) << " op " << i << ": " << got[i].key
                                 << " = " << got[i].value << " / " << want[i].key << " = "
                                 << want[i].value;
    }
  }
}

TEST(PolicyBuffers, AClearedOpIsADefaultOne) {
  Op op{.type = Op::Type::compare_and_set, .family = Family::timer, .key = "k", .value = "v",
        .ttl = std::chrono::milliseconds(5), .keep = 3, .want_result = false, .expected = "e",
        .due_ms = 9, .may_lose_on_crash = true, .found = true, .result = "r"};
  op.Clear();
  EXPECT_EQ(op, Op{});
}

// Store keys are joined from parts copied by size class (1-3, 4-7, 8-16
// and longer bytes): every length of every part lands where it belongs.
TEST(PolicyKeys, EveryPartLengthIsJoinedWhole) {
  std::string all;
  for (int i = 0; i < 40; ++i) all.push_back(static_cast<char>('a' + i % 26));
  for (std::size_t t = 0; t <= all.size(); ++t) {
    for (std::size_t a = 0; a <= 20; ++a) {
      const std::string tenant = all.substr(0, t);
      const std::string address = all.substr(all.size() - a);
      EXPECT_EQ(AddressKey(tenant, address, Channel::email),
                "{" + tenant + "|" + address + "}|email");
      EXPECT_EQ(DedupKey(address, tenant), address + "|" + tenant);
    }
  }
}

}  // namespace
}  // namespace omnigate::policy
