#pragma once

#include <array>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "gateway/config.h"
#include "gateway/request.h"
#include "gateway/state/state_store.h"

namespace omnigate::policy {

using gateway::SendRequest;
using gateway::TenantPolicy;
using std::chrono::system_clock;

// Addresses are compared in one form, whoever wrote them: phones and Viber
// ids in E.164 ("+40 (700) 000-001" and "0040700000001" are "+40700000001"),
// email with its domain lower-cased (the local part is case-sensitive per
// RFC 5321, and some servers honour that), web-push endpoints as given.
Result<std::string, std::string> NormalizeAddress(Channel channel, std::string_view address);

// The address a request sends to on `channel`, normalised. Empty when the
// request has none for it.
std::string AddressOf(const SendRequest& req, Channel channel);

// Store keys. Recipient-scoped keys carry a Redis Cluster hash tag {…} on
// tenant and address, so that one recipient's records share a slot. `channel`
// unset means every channel ("*").
std::string AddressKey(std::string_view tenant, std::string_view address,
                       std::optional<Channel> channel);
std::string DedupKey(std::string_view tenant, std::string_view id);

// A suppression or a consent as stored (JSON): why, who said so, when
// (epoch ms), and until when (0 = no expiry). The store's TTL enforces the
// expiry; it is kept here to show it.
struct AddressRecord {
  std::string reason;
  std::string source;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
};
std::string EncodeAddressRecord(const AddressRecord& r);
std::optional<AddressRecord> DecodeAddressRecord(std::string_view json);

// The policy outcomes counted in omnigate_policy_decisions_total, as
// (decision, reason) label pairs.
enum class Outcome : std::uint8_t {
  allowed,                   // checks passed, a channel is sent
  duplicate_id,              // same (tenant, id) inside the dedup window
  duplicate_content,         // same recipient + channel + content inside the content window
  suppressed_suppression,    // every channel opted out
  suppressed_no_consent,     // every channel lacks the required opt-in
  suppressed_frequency_cap,  // over a cap on every channel
  skipped_suppression,       // one channel skipped, the cascade moved on
  skipped_no_consent,
  skipped_frequency_cap,
  already_sent,  // a redelivered request the store records as sent: not sent again
  deferred_frequency_cap,  // over a cap with over_cap: defer
  deferred_quiet_hours,    // inside the recipient's quiet hours
};
inline constexpr std::size_t kOutcomeCount = 12;
std::string_view DecisionLabel(Outcome o);
std::string_view ReasonLabel(Outcome o);

// What the checks of one request decided.
struct Decision {
  enum class Verdict : std::uint8_t {
    send,          // send on the first channel not skipped
    duplicate,     // final `duplicate`
    suppressed,    // final `suppressed`
    already_sent,  // final `sent` again, with the provider and id the store recorded
    deferred,      // `deferred` until `defer_until` (over a cap, over_cap: defer)
  };
  Verdict verdict = Verdict::send;
  Outcome outcome = Outcome::allowed;
  std::string reason;  // for the event; "<rule>: <detail>"
  // Per channel (indexed by Channel): why it is skipped; empty = allowed.
  std::array<std::string, kChannelCount> skipped;
  std::array<Outcome, kChannelCount> skipped_outcome{};
  // already_sent: what the first send recorded.
  std::optional<Channel> channel;
  std::string provider;
  std::string provider_message_id;
  system_clock::time_point defer_until{};
};

// The checks of one request against the state store, in two steps around
// one batch: Prepare() lists the reads and claims, the caller executes them
// (one pipelined round trip on redis, a few memtable reads embedded), and
// Decide() reads the results. After a provider accepts the send,
// PrepareSent() lists the writes that record it (dedup state, cap counters);
// the final event is produced only after they are stored, so that a
// redelivery after a crash finds the send recorded.
//
// `origin` names where this copy of the request came from (Kafka
// topic/partition/offset): a claim with the same origin is the same record
// delivered again after a crash or rebalance, not a repeat publish.
class RequestPolicy {
 public:
  void Prepare(const SendRequest& req, const TenantPolicy& tp, std::string_view origin,
               system_clock::time_point now);
  // Only the opt-out and opt-in lookups, of the channels from position
  // `from` on: a cascade's later step checks them again when it comes
  // (an opt-out recorded since the first step applies). Decide() then
  // fills in `skipped` for those channels; its verdict says nothing.
  void PrepareChannels(const SendRequest& req, const TenantPolicy& tp, std::string_view origin,
                       std::size_t from);
  std::span<state::Op> ops();
  // Adds a write of the caller's to the prepared batch (the status store's
  // records of a send go with its send record).
  void AddOp(state::Op op);
  // `pending` (may be empty) says how many sends under a cap key are
  // checked and on their way but not yet counted in the store: they count
  // as sent now, so that a burst to one recipient cannot pass a cap before
  // the first send is recorded. Cap keys go by CapKeyHash: 64 bits, seeded
  // per process (two keys sharing one would only count each other's sends
  // on their way, one chance in 2^64).
  using PendingCount = std::function<int(std::uint64_t cap_key_hash)>;
  Decision Decide(system_clock::time_point now, const PendingCount& pending = {}) const;
  static std::uint64_t CapKeyHash(std::string_view cap_key);
  // The hashes of the cap keys a send on `channel` is counted under (what
  // PrepareSent appends to), appended to `out`.
  template <class Out>
  void CapKeyHashesFor(Channel channel, Out& out) const {
    for (const auto& counted : CountedCaps(channel)) out.push_back(counted.hash);
  }
  // The send on `channel` is decided (and its caps reserved): until the
  // provider answers, the request keeps only what PrepareSent needs (its
  // origin and the keys of the caps a send on `channel` counts under), and
  // its buffers go back to the thread's free list. Thousands of requests
  // wait on providers at once: what each held meanwhile would be out of
  // cache when next touched, and the buffers, given back at once, are
  // reused by the next requests' checks while still in cache. Decide()
  // has nothing to read until the next Prepare.
  void Suspend(Channel channel);
  void PrepareSent(Channel channel, std::string_view provider, std::string_view provider_message_id,
                   system_clock::time_point now);
  // The send's record is written: the buffers go back now, not when the
  // request's events are acknowledged by Kafka, which may be long after.
  void Done();

 private:
  enum class Check : std::uint8_t { dedup, content, suppression, consent, cap };
  struct Slot {
    Check check;
    Channel channel;       // suppression, consent, per-channel caps
    bool all_channels;     // the "*" record, or an across-channel cap
    std::size_t cap = 0;   // index into tp_->frequency_caps
  };
  // The cap keys a send on `channel` counts under, each once, with a rule
  // that owns it. Worked out once per request and channel (the check
  // reserves them, the record appends to them).
  struct CountedCap {
    std::string key;
    const gateway::FrequencyCap* cap;
    std::uint64_t hash;  // CapKeyHash(key)
  };
  std::span<const CountedCap> CountedCaps(Channel channel) const;
  // The next op of the batch, cleared (its strings keep their memory).
  state::Op& NewOp(state::Op::Type type, state::Family family);
  void Begin(const SendRequest& req, const TenantPolicy& tp, std::string_view origin,
             std::size_t from);
  void AddChannelChecks();
  // The request's normalised address on `channel`, worked out once per
  // request.
  const std::string& Address(Channel channel) const;
  // "{tenant|address}|" of the address on `channel`: what its opt-out
  // and cap keys start with.
  const std::string& AddressPrefix(Channel channel) const;
  // The key of `cap` for a send on `channel`. The recipient it counts is the
  // user id when the request has one, else the address of `channel` (across
  // channels the caller passes the first one).
  void CapKeyOf(const gateway::FrequencyCap& cap, Channel channel, std::string& out) const;
  // What a request's checks are built in: ops (the first `op_count`
  // are the batch; the rest wait, cleared, with their strings' memory),
  // slots, counted caps, addresses, origin. Taken from a free list of the
  // thread's when the request is first prepared, given back when the
  // RequestPolicy goes: a worker's requests take turns with a few hundred
  // of them instead of allocating each key and value anew.
  struct Buffers {
    std::vector<state::Op> ops;
    std::size_t op_count = 0;
    std::vector<Slot> slots;  // slots[i] is what ops[i] checks
    std::vector<CountedCap> counted;
    std::size_t counted_count = 0;
    std::array<std::string, kChannelCount> addresses;
    std::string prefix;  // AddressPrefix's
    std::string origin;
  };
  struct GiveBack {
    void operator()(Buffers* b) const;
  };
  static std::unique_ptr<Buffers, GiveBack> TakeBuffers();
  // Buffers again after Suspend(), holding what it kept.
  void Resume() const;
  // Drops what Address, AddressPrefix and CountedCaps worked out (their
  // buffers are another request's now, or about to be filled anew).
  void ForgetRequestCaches() const;
  // What Suspend() keeps: the origin, then each counted cap's key, in one
  // run of bytes (inline up to its size: no allocation for most requests).
  struct KeptCap {
    const gateway::FrequencyCap* cap;
    std::uint64_t hash;
    std::uint32_t offset;
    std::uint32_t size;
  };
  struct Kept {  // no member initializers: std::optional<Kept> is declared in the class
    boost::container::small_vector<char, 96> bytes;
    std::uint32_t origin_size;
    Channel channel;
    boost::container::small_vector<KeptCap, 2> caps;
  };
  const SendRequest* req_ = nullptr;
  const TenantPolicy* tp_ = nullptr;
  std::size_t from_ = 0;  // the first channel position with opt-out checks
  // Taken back on demand after Suspend() (Resume), hence mutable.
  mutable std::unique_ptr<Buffers, GiveBack> b_;
  std::optional<Kept> kept_;  // set while suspended
  mutable std::uint8_t addresses_known_ = 0;  // a bit per channel
  mutable std::optional<Channel> prefix_for_;  // whose address b_->prefix holds
  mutable std::optional<Channel> counted_for_;  // whose caps b_->counted holds
};

class TimeZones;

// When a send on `channel` may go, if the tenant's quiet hours hold it now:
// the end of the latest window in effect, in the recipient's time zone
// (to.timezone, else the tenant's; an unknown zone name in a request falls
// back to the tenant's and says so in the reason).
struct QuietHold {
  system_clock::time_point until;
  std::string reason;  // "quiet_hours: 21:00-08:00 Europe/Bucharest ..."
};
std::optional<QuietHold> QuietHoursHold(const SendRequest& req, const TenantPolicy& tp,
                                        Channel channel, TimeZones& zones,
                                        system_clock::time_point now);

}  // namespace omnigate::policy
