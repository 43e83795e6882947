#include "gateway/policy/policy.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <ctime>
#include <initializer_list>

#include "common/duration.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/sha256.h"
#include "common/text.h"
#include "gateway/policy/quiet_hours.h"

namespace omnigate::policy {
namespace {

using state::Family;
using state::Op;

std::int64_t Ms(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "+", then 7 to 15 digits, the first not 0: what NormalizeAddress makes of
// a phone number, and gives back unchanged.
bool IsE164(std::string_view s) {
  if (s.size() < 8 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

std::string_view ChannelOrAll(std::optional<Channel> c) { return c ? ToString(*c) : "*"; }

// Copies a short part with a few fixed-size moves the compiler inlines
// (a call to memcpy per part cost more than the copy: keys are made of
// one-byte separators, a tenant, an address).
void CopyPart(char* to, std::string_view part) {
  const char* from = part.data();
  const std::size_t n = part.size();
  if (n >= 8 && n <= 16) {
    std::memcpy(to, from, 8);  // the first 8 bytes and the last 8, overlapping
    std::memcpy(to + n - 8, from + n - 8, 8);
  } else if (n >= 4 && n < 8) {
    std::memcpy(to, from, 4);
    std::memcpy(to + n - 4, from + n - 4, 4);
  } else if (n > 0 && n < 4) {
    to[0] = from[0];
    to[n / 2] = from[n / 2];
    to[n - 1] = from[n - 1];
  } else if (n > 16) {
    std::memcpy(to, from, n);
  }
}

inline std::size_t PartSize(char) { return 1; }
inline std::size_t PartSize(std::string_view part) { return part.size(); }
// A string literal (not a char buffer: its size is the array's).
template <std::size_t N>
constexpr std::size_t PartSize(const char (&)[N]) {
  return N - 1;
}
inline void PutPart(char*& at, char c) { *at++ = c; }
inline void PutPart(char*& at, std::string_view part) {
  CopyPart(at, part);
  at += part.size();
}
template <std::size_t N>
void PutPart(char*& at, const char (&literal)[N]) {
  std::memcpy(at, literal, N - 1);
  at += N - 1;
}

// `out` = the parts (chars, literals and string views) joined, in `out`'s memory when
// it has room: store keys are built for every request, several times over,
// each an unrolled run of copies with no loop over the parts.
template <class... Parts>
void ConcatInto(std::string& out, const Parts&... parts) {
  out.resize((PartSize(parts) + ...));
  char* at = out.data();
  (PutPart(at, parts), ...);
}

std::string_view LaneScopeName(gateway::LaneScope s) {
  switch (s) {
    case gateway::LaneScope::bulk: return "bulk";
    case gateway::LaneScope::transactional: return "transactional";
    case gateway::LaneScope::all: return "all";
  }
  return "all";
}

bool LaneMatches(gateway::LaneScope scope, gateway::Lane lane) {
  return scope == gateway::LaneScope::all ||
         (scope == gateway::LaneScope::bulk) == (lane == gateway::Lane::bulk);
}

// A cap's key: recipient ("u:" + user id, or an address), channel (or *),
// and the lanes it counts, so that two rules over the same scope share one
// list of send times. The same layout as AddressKey's, with the lanes after.
// `address_prefix`: AddressKeyPrefixInto's, of the address counted when
// there is no user id.
void CapKeyInto(std::string& out, std::string_view tenant, std::string_view user_id,
                std::string_view address_prefix, const gateway::FrequencyCap& cap) {
  if (!user_id.empty()) {
    ConcatInto(out, '{', tenant, "|u:", user_id, "}|", ChannelOrAll(cap.channel), '|',
               LaneScopeName(cap.lanes));
    return;
  }
  ConcatInto(out, address_prefix, ChannelOrAll(cap.channel), '|', LaneScopeName(cap.lanes));
}

// What a cap's list of send times holds, over every rule sharing its key:
// the newest `keep` times (the largest limit) for `ttl` (the longest window).
struct CapList {
  std::uint32_t keep = 1;
  std::chrono::milliseconds ttl{0};
};

CapList CapListOf(const TenantPolicy& tp, const gateway::FrequencyCap& cap) {
  int keep = 1;
  CapList list;
  for (const auto& other : tp.frequency_caps) {
    if (other.channel != cap.channel || other.lanes != cap.lanes) continue;
    for (const auto& l : other.limits) {
      keep = std::max(keep, l.limit);
      list.ttl = std::max(list.ttl, l.window);
    }
  }
  list.keep = static_cast<std::uint32_t>(keep);
  return list;
}

// The first limit of `cap` that one more send would break, given the send
// times (epoch ms, comma-separated) already counted; `release_ms` is when
// every limit of the cap allows one more.
const gateway::CapLimit* OverCap(const gateway::FrequencyCap& cap, std::string_view times,
                                 std::int64_t now_ms, std::int64_t* release_ms = nullptr,
                                 int pending = 0) {
  std::vector<std::int64_t> sent(static_cast<std::size_t>(std::max(0, pending)), now_ms);
  for (std::size_t pos = 0; pos < times.size();) {
    auto comma = times.find(',', pos);
    if (comma == std::string_view::npos) comma = times.size();
    std::int64_t t = 0;
    std::from_chars(times.data() + pos, times.data() + comma, t);
    sent.push_back(t);
    pos = comma + 1;
  }
  std::sort(sent.begin(), sent.end());
  const gateway::CapLimit* over = nullptr;
  for (const auto& limit : cap.limits) {
    const std::int64_t since = now_ms - limit.window.count();
    const auto first_in = std::upper_bound(sent.begin(), sent.end(), since);
    const auto in_window = sent.end() - first_in;
    if (in_window < limit.limit) continue;
    if (over == nullptr) over = &limit;
    // One more fits once the oldest (in_window - limit + 1) sends have left
    // the window.
    if (release_ms != nullptr) {
      const std::int64_t t = *(first_in + (in_window - limit.limit)) + limit.window.count();
      *release_ms = std::max(*release_ms, t);
    }
  }
  return over;
}


// The content of one channel, fields separated by a byte no text field can
// hold unescaped in JSON, so that moving text between fields changes it.
std::string ContentBytes(const SendRequest& req, Channel channel) {
  std::string b;
  auto add = [&](std::string_view s) {
    b.append(s);
    b.push_back('\x1f');
  };
  switch (channel) {
    case Channel::sms:
      if (req.sms) {
        add(req.sms->text);
        add(req.sms->sender);
      }
      break;
    case Channel::email:
      if (req.email) {
        add(req.email->from);
        add(req.email->subject);
        add(req.email->text);
        add(req.email->html);
      }
      break;
    case Channel::viber:
      if (req.viber) {
        add(req.viber->text);
        add(req.viber->image_url);
        if (req.viber->button) {
          add(req.viber->button->caption);
          add(req.viber->button->url);
        }
      }
      break;
    case Channel::webpush:
      if (req.webpush) add(req.webpush->payload);
      break;
  }
  return b;
}

// The dedup record: "c|<origin>" once claimed,
// "s|<origin>|<channel>|<provider>|<id>" once a provider accepted the send
// (the id last: it is the provider's and may hold anything).
struct DedupRecord {
  bool sent = false;
  std::string_view origin;
  std::string_view channel;
  std::string_view provider;
  std::string_view provider_message_id;
};

DedupRecord ParseDedup(std::string_view v) {
  DedupRecord r;
  if (v.size() < 2 || v[1] != '|') return r;
  r.sent = v[0] == 's';
  v.remove_prefix(2);
  for (std::string_view* field : {&r.origin, &r.channel, &r.provider}) {
    const auto bar = v.find('|');
    *field = v.substr(0, bar);
    if (bar == std::string_view::npos) return r;
    v.remove_prefix(bar + 1);
  }
  r.provider_message_id = v;
  return r;
}

std::string DescribeRecord(std::string_view json) {
  const auto r = DecodeAddressRecord(json);
  if (!r) return {};
  std::string out;
  if (!r->reason.empty()) out += fmt::format(" ({})", r->reason);
  if (!r->source.empty()) out += fmt::format(" from {}", r->source);
  return out;
}

}  // namespace

Result<std::string, std::string> NormalizeAddress(Channel channel, std::string_view address) {
  switch (channel) {
    case Channel::sms:
    case Channel::viber: {
      // "+" and at most 15 digits: built on the stack (every request's
      // address goes through here).
      char buffer[20];
      std::size_t size = 1;
      buffer[0] = '+';
      bool plus = false;
      for (std::size_t i = 0; i < address.size(); ++i) {
        const char c = address[i];
        if (IsDigit(c)) {
          if (size == sizeof(buffer)) {
            return MakeUnexpected(
                std::string("not an E.164 number: 7 to 15 digits after '+', the first not 0"));
          }
          buffer[size++] = c;
        } else if (c == '+' && size == 1 && !plus) {
          plus = true;
        } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
          return MakeUnexpected(
              std::string("a phone number holds digits, an optional leading '+', and spaces, "
                          "dashes, dots or parentheses"));
        }
      }
      std::string_view digits(buffer + 1, size - 1);
      // "00" is the international prefix most of the world dials for "+".
      if (!plus && digits.starts_with("00")) digits.remove_prefix(2);
      else if (!plus) {
        return MakeUnexpected(
            std::string("a phone number needs its country code: '+' or '00' first (E.164)"));
      }
      if (digits.size() < 7 || digits.size() > 15 || digits[0] == '0') {
        return MakeUnexpected(std::string("not an E.164 number: 7 to 15 digits after '+', the first not 0"));
      }
      std::string out(digits.size() + 1, '+');
      std::memcpy(out.data() + 1, digits.data(), digits.size());
      return out;
    }
    case Channel::email: {
      std::string_view a = address;
      while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
      while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
      const auto at = a.rfind('@');
      if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || a.find('@') != at ||
          a.find_first_of(" \t\r\n<>,;") != std::string_view::npos) {
        return MakeUnexpected(std::string("not an email address (local@domain)"));
      }
      std::string out(a.substr(0, at + 1));
      out += AsciiLowercase(a.substr(at + 1));
      return out;
    }
    case Channel::webpush:
      if (address.rfind("https://", 0) != 0) {
        return MakeUnexpected(std::string("a web-push address is its subscription's https endpoint"));
      }
      return std::string(address);
  }
  return MakeUnexpected(std::string("unknown channel"));
}

std::string AddressOf(const SendRequest& req, Channel channel) {
  std::string_view raw;
  switch (channel) {
    case Channel::sms: raw = req.to.phone; break;
    case Channel::viber: raw = req.to.viber; break;
    case Channel::email: raw = req.to.email; break;
    case Channel::webpush:
      if (req.to.webpush) raw = req.to.webpush->endpoint;
      break;
  }
  if (raw.empty()) return {};
  // Most senders write numbers in the normal form already: taken as given.
  if ((channel == Channel::sms || channel == Channel::viber) && IsE164(raw)) {
    return std::string(raw);
  }
  auto n = NormalizeAddress(channel, raw);
  // The decoder validated it; a form it accepts and this refuses is used as
  // given rather than dropping the checks.
  return n ? std::move(n).value() : std::string(raw);
}

namespace {

// What every key of a recipient's address starts with: "{tenant|address}|".
void AddressKeyPrefixInto(std::string& out, std::string_view tenant, std::string_view address) {
  ConcatInto(out, '{', tenant, '|', address, "}|");
}

void AddressKeyInto(std::string& out, std::string_view tenant, std::string_view address,
                    std::optional<Channel> channel) {
  AddressKeyPrefixInto(out, tenant, address);
  out += ChannelOrAll(channel);
}

void DedupKeyInto(std::string& out, std::string_view tenant, std::string_view id) {
  ConcatInto(out, tenant, '|', id);
}

// A thread's free list of T. Bounded: a worker has at most a few thousand
// requests in flight, and a burst beyond the bound allocates.
template <class T>
class FreeList {
 public:
  static constexpr std::size_t kMax = 1024;
  ~FreeList() {
    alive_ = false;
    for (T* t : free_) delete t;
  }
  // Null while the thread exits, after its list is gone: what is given
  // back then is deleted.
  static FreeList* Mine() {
    thread_local FreeList list;
    return alive_ ? &list : nullptr;
  }
  T* Take() {
    if (free_.empty()) return new T();
    T* t = free_.back();
    free_.pop_back();
    return t;
  }
  void Give(T* t) {
    if (free_.size() < kMax) {
      free_.push_back(t);
    } else {
      delete t;
    }
  }

 private:
  static inline thread_local bool alive_ = true;
  std::vector<T*> free_;
};

}  // namespace

std::string AddressKey(std::string_view tenant, std::string_view address,
                       std::optional<Channel> channel) {
  std::string key;
  AddressKeyInto(key, tenant, address, channel);
  return key;
}

std::string DedupKey(std::string_view tenant, std::string_view id) {
  std::string key;
  DedupKeyInto(key, tenant, id);
  return key;
}

std::string EncodeAddressRecord(const AddressRecord& r) {
  std::string out = "{\"reason\":";
  AppendJsonString(r.reason, out);
  out += ",\"source\":";
  AppendJsonString(r.source, out);
  out += fmt::format(",\"created_ms\":{},\"expires_ms\":{}}}", r.created_ms, r.expires_ms);
  return out;
}

std::optional<AddressRecord> DecodeAddressRecord(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  AddressRecord r;
  std::string_view s;
  if (doc["reason"].get(s) == simdjson::SUCCESS) r.reason = s;
  if (doc["source"].get(s) == simdjson::SUCCESS) r.source = s;
  std::int64_t v = 0;
  if (doc["created_ms"].get(v) == simdjson::SUCCESS) r.created_ms = v;
  if (doc["expires_ms"].get(v) == simdjson::SUCCESS) r.expires_ms = v;
  return r;
}

std::string_view DecisionLabel(Outcome o) {
  switch (o) {
    case Outcome::allowed: return "allowed";
    case Outcome::duplicate_id:
    case Outcome::duplicate_content: return "duplicate";
    case Outcome::suppressed_suppression:
    case Outcome::suppressed_no_consent:
    case Outcome::suppressed_frequency_cap: return "suppressed";
    case Outcome::skipped_suppression:
    case Outcome::skipped_no_consent:
    case Outcome::skipped_frequency_cap: return "channel_skipped";
    case Outcome::already_sent: return "already_sent";
    case Outcome::deferred_frequency_cap:
    case Outcome::deferred_quiet_hours: return "deferred";
  }
  return "unknown";
}

std::string_view ReasonLabel(Outcome o) {
  switch (o) {
    case Outcome::allowed: return "none";
    case Outcome::duplicate_id: return "id";
    case Outcome::duplicate_content: return "content";
    case Outcome::suppressed_suppression:
    case Outcome::skipped_suppression: return "suppression";
    case Outcome::suppressed_no_consent:
    case Outcome::skipped_no_consent: return "no_consent";
    case Outcome::suppressed_frequency_cap:
    case Outcome::skipped_frequency_cap: return "frequency_cap";
    case Outcome::already_sent: return "redelivery";
    case Outcome::deferred_frequency_cap: return "frequency_cap";
    case Outcome::deferred_quiet_hours: return "quiet_hours";
  }
  return "unknown";
}

std::unique_ptr<RequestPolicy::Buffers, RequestPolicy::GiveBack> RequestPolicy::TakeBuffers() {
  auto* list = FreeList<Buffers>::Mine();
  Buffers* b = list != nullptr ? list->Take() : new Buffers();
  if (b->ops.capacity() == 0) {
    // A send's checks are a claim, two opt-out lookups per channel and its caps.
    b->ops.reserve(8);
    b->slots.reserve(8);
  }
  return std::unique_ptr<Buffers, GiveBack>(b);
}

void RequestPolicy::GiveBack::operator()(Buffers* b) const {
  auto* list = FreeList<Buffers>::Mine();
  if (list == nullptr) {
    delete b;
    return;
  }
  list->Give(b);
}

void RequestPolicy::ForgetRequestCaches() const {
  addresses_known_ = 0;
  prefix_for_.reset();
  counted_for_.reset();
}

void RequestPolicy::Suspend(Channel channel) {
  if (!b_) return;
  const auto counted = CountedCaps(channel);
  Kept& kept = kept_.emplace();
  const std::string_view origin = b_->origin;
  kept.bytes.assign(origin.begin(), origin.end());
  kept.origin_size = static_cast<std::uint32_t>(origin.size());
  kept.channel = channel;
  for (const auto& c : counted) {
    kept.caps.push_back({c.cap, c.hash, static_cast<std::uint32_t>(kept.bytes.size()),
                         static_cast<std::uint32_t>(c.key.size())});
    kept.bytes.insert(kept.bytes.end(), c.key.begin(), c.key.end());
  }
  b_.reset();
  ForgetRequestCaches();
}

void RequestPolicy::Done() {
  b_.reset();
  kept_.reset();
  ForgetRequestCaches();
}

void RequestPolicy::Resume() const {
  if (b_ || !kept_) return;
  b_ = TakeBuffers();
  b_->op_count = 0;
  b_->slots.clear();
  const Kept& kept = *kept_;
  b_->origin.assign(kept.bytes.data(), kept.origin_size);
  auto& counted = b_->counted;
  if (counted.size() < kept.caps.size()) counted.resize(kept.caps.size());
  for (std::size_t i = 0; i < kept.caps.size(); ++i) {
    const KeptCap& k = kept.caps[i];
    counted[i].key.assign(kept.bytes.data() + k.offset, k.size);
    counted[i].cap = k.cap;
    counted[i].hash = k.hash;
  }
  b_->counted_count = kept.caps.size();
  counted_for_ = kept.channel;
}

std::span<Op> RequestPolicy::ops() {
  if (!b_) return {};
  return std::span<Op>(b_->ops.data(), b_->op_count);
}

void RequestPolicy::AddOp(Op op) {
  Resume();
  if (!b_) b_ = TakeBuffers();
  NewOp(op.type, op.family) = std::move(op);
}

void RequestPolicy::Begin(const SendRequest& req, const TenantPolicy& tp,
                          std::string_view origin, std::size_t from) {
  req_ = &req;
  tp_ = &tp;
  kept_.reset();
  if (!b_) b_ = TakeBuffers();
  b_->origin.assign(origin);
  b_->op_count = 0;
  b_->slots.clear();
  ForgetRequestCaches();
  from_ = from;
}

Op& RequestPolicy::NewOp(Op::Type type, Family family) {
  auto& ops = b_->ops;
  if (b_->op_count == ops.size()) {
    ops.emplace_back();  // in place: an Op is four strings and more
  } else {
    ops[b_->op_count].Clear();
  }
  Op& op = ops[b_->op_count++];
  op.type = type;
  op.family = family;
  return op;
}

const std::string& RequestPolicy::Address(Channel channel) const {
  const auto i = static_cast<std::size_t>(channel);
  if ((addresses_known_ & (1U << i)) == 0) {
    b_->addresses[i] = AddressOf(*req_, channel);
    addresses_known_ |= static_cast<std::uint8_t>(1U << i);
  }
  return b_->addresses[i];
}

const std::string& RequestPolicy::AddressPrefix(Channel channel) const {
  if (prefix_for_ != channel) {
    AddressKeyPrefixInto(b_->prefix, req_->tenant, Address(channel));
    prefix_for_ = channel;
  }
  return b_->prefix;
}

void RequestPolicy::CapKeyOf(const gateway::FrequencyCap& cap, Channel channel,
                             std::string& out) const {
  const std::string& user = req_->to.user_id;
  CapKeyInto(out, req_->tenant, user, user.empty() ? std::string_view(AddressPrefix(channel)) : "",
             cap);
}

void RequestPolicy::Prepare(const SendRequest& req, const TenantPolicy& tp,
                            std::string_view origin, system_clock::time_point now) {
  Begin(req, tp, origin, 0);
  (void)now;
  auto& slots = b_->slots;
  // 1. Claim the id. The claim holds for the whole window; a send upgrades it.
  // Visible at once is what a claim needs; durable it need not be: after a
  // crash the redelivered record is sent whether its claim survived or not.
  Op& claim = NewOp(Op::Type::put_if_absent, Family::dedup);
  DedupKeyInto(claim.key, req.tenant, req.id);
  ConcatInto(claim.value, "c|", b_->origin);
  claim.ttl = tp.dedup_window;
  claim.may_lose_on_crash = true;
  slots.push_back({Check::dedup, req.channels[0], false});
  // 2. Content of the first channel to its address, when the tenant asks.
  if (tp.content_dedup) {
    const Channel first = req.channels[0];
    Op& op = NewOp(Op::Type::put_if_absent, Family::content);
    AddressKeyInto(op.key, req.tenant, Address(first), first);
    op.key += '|';
    op.key += Sha256Hex(ContentBytes(req, first), 16);  // 128 bits: collisions are no concern
    op.value = req.id;
    op.ttl = tp.content_window;
    slots.push_back({Check::content, first, false});
  }
  // 3. Opt-outs, and opt-ins where the lane requires them.
  AddChannelChecks();
  // 4. The send times each applicable cap counts.
  for (std::size_t i = 0; i < tp.frequency_caps.size(); ++i) {
    const auto& cap = tp.frequency_caps[i];
    if (!LaneMatches(cap.lanes, req.lane)) continue;
    if (cap.channel) {
      if (std::find(req.channels.begin(), req.channels.end(), *cap.channel) == req.channels.end()) {
        continue;
      }
      CapKeyOf(cap, *cap.channel, NewOp(Op::Type::get, Family::counter).key);
      slots.push_back({Check::cap, *cap.channel, false, i});
    } else {
      CapKeyOf(cap, req.channels[0], NewOp(Op::Type::get, Family::counter).key);
      slots.push_back({Check::cap, req.channels[0], true, i});
    }
  }
}

void RequestPolicy::PrepareChannels(const SendRequest& req, const TenantPolicy& tp,
                                    std::string_view origin, std::size_t from) {
  Begin(req, tp, origin, from);
  AddChannelChecks();
}

// The channel's own record and the all-channels one, for each channel from
// from_ on.
void RequestPolicy::AddChannelChecks() {
  const auto& req = *req_;
  const auto& tp = *tp_;
  const bool bulk = req.lane == gateway::Lane::bulk;
  const bool needs_consent = bulk ? tp.bulk_requires_opt_in : tp.transactional_requires_opt_in;
  for (std::size_t i = from_; i < req.channels.size(); ++i) {
    const Channel c = req.channels[i];
    for (const bool all : {false, true}) {
      const auto scope = all ? std::nullopt : std::optional<Channel>(c);
      // AddressKey's, from the prefix.
      ConcatInto(NewOp(Op::Type::get, Family::suppression).key, AddressPrefix(c),
                 ChannelOrAll(scope));
      b_->slots.push_back({Check::suppression, c, all});
      if (needs_consent) {
        Op& consent = NewOp(Op::Type::get, Family::consent);
        consent.key = b_->ops[b_->op_count - 2].key;  // the opt-out lookup's
        b_->slots.push_back({Check::consent, c, all});
      }
    }
  }
}

Decision RequestPolicy::Decide(system_clock::time_point now, const PendingCount& pending) const {
  assert(b_ != nullptr && "Decide() reads what the last Prepare's ops found");
  Decision d;
  const auto& req = *req_;
  const std::int64_t now_ms = Ms(now);
  std::array<bool, kChannelCount> has_consent{};
  bool consent_checked = false;
  std::string across_cap;  // an across-channel cap that is full: every channel is over it
  std::int64_t release_ms = 0;  // when the caps that are full allow one more
  for (std::size_t i = 0; i < b_->slots.size(); ++i) {
    const Slot& s = b_->slots[i];
    const Op& op = b_->ops[i];
    const auto ci = static_cast<std::size_t>(s.channel);
    switch (s.check) {
      case Check::dedup: {
        if (!op.found) break;
        const DedupRecord r = ParseDedup(op.result);
        if (r.origin != b_->origin) {
          d.verdict = Decision::Verdict::duplicate;
          d.outcome = Outcome::duplicate_id;
          d.reason = fmt::format("id: {} was already received within the dedup window ({})",
                                 req.id, FormatDuration(tp_->dedup_window));
          return d;
        }
        if (r.sent) {
          d.verdict = Decision::Verdict::already_sent;
          d.outcome = Outcome::already_sent;
          d.reason = "redelivery: sent before a restart or rebalance; not sent again";
          d.provider = r.provider;
          d.provider_message_id = r.provider_message_id;
          d.channel = ChannelFromString(r.channel);
          return d;
        }
        break;  // our own claim from before a crash: the send is not recorded, so it is made
      }
      case Check::content:
        if (op.found && op.result != req.id) {
          d.verdict = Decision::Verdict::duplicate;
          d.outcome = Outcome::duplicate_content;
          d.reason = fmt::format(
              "content: the same {} content went to this address as request {} within {}",
              ToString(s.channel), op.result, FormatDuration(tp_->content_window));
          return d;
        }
        break;
      case Check::suppression:
        if (op.found && d.skipped[ci].empty()) {
          d.skipped[ci] = fmt::format("suppression: {} opted out{}{}", ToString(s.channel),
                                      s.all_channels ? " of every channel" : "",
                                      DescribeRecord(op.result));
          d.skipped_outcome[ci] = Outcome::skipped_suppression;
        }
        break;
      case Check::consent:
        consent_checked = true;
        if (op.found) has_consent[ci] = true;
        break;
      case Check::cap: {
        const auto& cap = tp_->frequency_caps[s.cap];
        const int in_flight = pending ? pending(CapKeyHash(op.key)) : 0;
        if (!op.found && in_flight == 0) break;
        const auto* limit = OverCap(cap, op.found ? std::string_view(op.result) : std::string_view(),
                                    now_ms, &release_ms, in_flight);
        if (limit == nullptr) break;
        const std::string why =
            fmt::format("frequency_cap: {}/{} {} reached for this recipient", limit->limit,
                        FormatDuration(limit->window),
                        s.all_channels ? std::string("across channels")
                                       : fmt::format("on {}", ToString(s.channel)));
        if (s.all_channels) {
          if (across_cap.empty()) across_cap = why;
        } else if (d.skipped[ci].empty()) {
          d.skipped[ci] = why;
          d.skipped_outcome[ci] = Outcome::skipped_frequency_cap;
        }
        break;
      }
    }
  }
  if (consent_checked) {
    for (std::size_t i = from_; i < req.channels.size(); ++i) {
      const auto ci = static_cast<std::size_t>(req.channels[i]);
      const Channel c = req.channels[i];
      if (!has_consent[ci] && d.skipped[ci].empty()) {
        d.skipped[ci] = fmt::format("no_consent: no recorded opt-in for {}", ToString(c));
        d.skipped_outcome[ci] = Outcome::skipped_no_consent;
      }
    }
  }
  const bool defer = tp_->over_cap == gateway::OverCap::defer;
  auto deferred = [&](std::string reason) {
    d.verdict = Decision::Verdict::deferred;
    d.outcome = Outcome::deferred_frequency_cap;
    d.defer_until = system_clock::time_point(std::chrono::milliseconds(release_ms));
    d.reason = std::move(reason);
    d.skipped = {};
    d.skipped_outcome = {};
  };
  if (!across_cap.empty()) {
    if (defer) {
      deferred(across_cap);
      return d;
    }
    d.verdict = Decision::Verdict::suppressed;
    d.outcome = Outcome::suppressed_frequency_cap;
    d.reason = across_cap;
    return d;
  }
  for (const Channel c : req.channels) {
    if (d.skipped[static_cast<std::size_t>(c)].empty()) return d;  // send
  }
  // Every channel is skipped: the request ends suppressed, with every reason,
  // counted under the first channel's. Only caps on every channel, with
  // over_cap: defer, wait instead.
  const bool all_capped = std::all_of(req.channels.begin(), req.channels.end(), [&](Channel c) {
    return d.skipped_outcome[static_cast<std::size_t>(c)] == Outcome::skipped_frequency_cap;
  });
  if (defer && all_capped) {
    deferred(d.skipped[static_cast<std::size_t>(req.channels[0])]);
    return d;
  }
  d.verdict = Decision::Verdict::suppressed;
  const Outcome first = d.skipped_outcome[static_cast<std::size_t>(req.channels[0])];
  d.outcome = first == Outcome::skipped_no_consent     ? Outcome::suppressed_no_consent
              : first == Outcome::skipped_frequency_cap ? Outcome::suppressed_frequency_cap
                                                        : Outcome::suppressed_suppression;
  for (const Channel c : req.channels) {
    if (!d.reason.empty()) d.reason += "; ";
    d.reason += d.skipped[static_cast<std::size_t>(c)];
  }
  return d;
}

std::span<const RequestPolicy::CountedCap> RequestPolicy::CountedCaps(Channel channel) const {
  Resume();
  auto& counted = b_->counted;
  if (counted_for_ == channel) return {counted.data(), b_->counted_count};
  const auto& req = *req_;
  const auto& slots = b_->slots;
  std::size_t count = 0;
  for (std::size_t i = 0; i < tp_->frequency_caps.size(); ++i) {
    const auto& cap = tp_->frequency_caps[i];
    if (!LaneMatches(cap.lanes, req.lane)) continue;
    if (cap.channel && *cap.channel != channel) continue;
    if (count == counted.size()) counted.emplace_back();
    CountedCap& next = counted[count];
    // The check read this cap's list under the same key (Prepare): copied,
    // not built again.
    const auto read = std::find_if(slots.begin(), slots.end(), [&](const Slot& s) {
      return s.check == Check::cap && s.cap == i;
    });
    if (read != slots.end()) {
      next.key = b_->ops[static_cast<std::size_t>(read - slots.begin())].key;
    } else {
      CapKeyOf(cap, cap.channel ? channel : req.channels[0], next.key);
    }
    // Rules sharing a key count the send once.
    const auto end = counted.begin() + static_cast<std::ptrdiff_t>(count);
    if (std::none_of(counted.begin(), end, [&](const auto& c) { return c.key == next.key; })) {
      next.cap = &cap;
      next.hash = CapKeyHash(next.key);
      ++count;
    }
  }
  b_->counted_count = count;
  counted_for_ = channel;
  return {counted.data(), count};
}

std::uint64_t RequestPolicy::CapKeyHash(std::string_view cap_key) {
  return Hash64(cap_key, ProcessHashSeed());
}

void RequestPolicy::PrepareSent(Channel channel, std::string_view provider,
                                std::string_view provider_message_id,
                                system_clock::time_point now) {
  const auto& req = *req_;
  const auto& tp = *tp_;
  // Worked out before the ops are reused: the cap keys are copied from the
  // check's reads.
  const auto counted = CountedCaps(channel);
  // The check's claim has the record's key: kept, not built again.
  auto& ops = b_->ops;
  const bool claimed = b_->op_count > 0 && ops[0].family == Family::dedup &&
                       ops[0].type == Op::Type::put_if_absent;
  std::string key;
  if (claimed) key.swap(ops[0].key);
  b_->op_count = 0;
  b_->slots.clear();
  Op& record = NewOp(Op::Type::put, Family::dedup);
  if (claimed) {
    record.key.swap(key);
  } else {
    DedupKeyInto(record.key, req.tenant, req.id);
  }
  ConcatInto(record.value, "s|", b_->origin, '|', ToString(channel), '|', provider, '|',
             provider_message_id);
  record.ttl = tp.dedup_window;
  char now_ms[24];
  const auto now_end = std::to_chars(std::begin(now_ms), std::end(now_ms), Ms(now)).ptr;
  for (const auto& c : counted) {
    const CapList list = CapListOf(tp, *c.cap);
    Op& op = NewOp(Op::Type::append, Family::counter);
    op.key = c.key;
    op.value.assign(now_ms, now_end);
    op.ttl = list.ttl;
    op.keep = list.keep;
    op.want_result = false;
  }
}

namespace {

std::string HhMm(int minute) { return fmt::format("{:02}:{:02}", minute / 60, minute % 60); }

std::string Rfc3339(system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

std::optional<QuietHold> QuietHoursHold(const SendRequest& req, const TenantPolicy& tp,
                                        Channel channel, TimeZones& zones,
                                        system_clock::time_point now) {
  if (tp.quiet_hours.empty()) return std::nullopt;
  std::string_view zone_name = req.to.timezone.empty() ? tp.timezone : req.to.timezone;
  auto zone = zones.Find(zone_name);
  std::string note;
  if (!zone) {
    note = fmt::format(" (to.timezone '{}' is unknown here; the tenant's zone is used)", zone_name);
    zone_name = tp.timezone;
    zone = zones.Find(zone_name);
    if (!zone) zone = cctz::utc_time_zone();
  }
  std::optional<QuietHold> hold;
  for (const auto& rule : tp.quiet_hours) {
    if (!LaneMatches(rule.lanes, req.lane)) continue;
    if (!rule.channels.empty() &&
        std::find(rule.channels.begin(), rule.channels.end(), channel) == rule.channels.end()) {
      continue;
    }
    const auto until = QuietUntil({rule.start_minute, rule.end_minute}, *zone, now);
    if (!until || (hold && *until <= hold->until)) continue;
    hold = QuietHold{*until, fmt::format("quiet_hours: {}-{} {} for {}; released at {}{}",
                                         HhMm(rule.start_minute), HhMm(rule.end_minute),
                                         zone_name, ToString(channel), Rfc3339(*until), note)};
  }
  return hold;
}

}  // namespace omnigate::policy
