#include "gateway/state/redis_store.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <optional>
#include <vector>

namespace omnigate::state {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// Every script: KEYS[1] the key; ARGV now (ms), expiry (ms, 0 = never), the
// TTL for Redis's own reclaiming (ms, 0 = none), the value, and (append) how
// many items to keep. A stored value is
// "<expiry>|<payload>"; expiry is judged against ARGV[1], the injected clock.
constexpr const char* kLive = R"lua(
local function live(v, now)
  if not v then return nil end
  local i = string.find(v, '|', 1, true)
  local e = tonumber(string.sub(v, 1, i - 1))
  if e == 0 or now < e then return string.sub(v, i + 1) end
  return nil
end
)lua";

// A batch's ops but timers, in one script call: KEYS the ops' keys; ARGV[1]
// now (ms), then five per op: its type (g get, p put, c put_if_absent, e
// erase, a append, s compare_and_set), expiry (ms, 0 = never), the TTL for
// Redis's own reclaiming (ms, 0 = none), the value, and append's keep or
// compare_and_set's expected value ('' = absent). One string per op (a flat
// answer: one reply object per op for hiredis to allocate): '1' or '0' for
// the op's `found`, then its `result`. Each op is atomic, and so is the
// whole call: the script runs alone. The append rule is AppendKeepingNewest's.
constexpr const char* kBatchScript = R"lua(
local now = tonumber(ARGV[1])
local out = {}
local function set(k, expiry, reclaim, payload)
  if reclaim > 0 then
    redis.call('SET', k, expiry .. '|' .. payload, 'PX', reclaim)
  else
    redis.call('SET', k, expiry .. '|' .. payload)
  end
end
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 5
  local t, expiry, reclaim, value, extra =
      ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
  local k = KEYS[i]
  if t == 'g' then
    local v = live(redis.call('GET', k), now)
    if v then out[i] = '1' .. v else out[i] = '0' end
  elseif t == 'p' then
    set(k, expiry, reclaim, value)
    out[i] = '0'
  elseif t == 'c' then
    local v = live(redis.call('GET', k), now)
    if v then
      out[i] = '1' .. v
    else
      set(k, expiry, reclaim, value)
      out[i] = '0'
    end
  elseif t == 'e' then
    local v = live(redis.call('GET', k), now)
    redis.call('DEL', k)
    if v then out[i] = '1' else out[i] = '0' end
  elseif t == 'a' then
    local v = live(redis.call('GET', k), now)
    local items = {}
    if v and v ~= '' then
      for item in string.gmatch(v, '[^,]+') do items[#items + 1] = item end
    end
    items[#items + 1] = value
    local keep = math.max(1, tonumber(extra))
    local list = table.concat(items, ',', math.max(1, #items - keep + 1), #items)
    set(k, expiry, reclaim, list)
    if v then out[i] = '1' .. list else out[i] = '0' .. list end
  elseif t == 's' then
    local cur = live(redis.call('GET', k), now) or ''
    if cur ~= extra then
      out[i] = '0' .. cur
    else
      set(k, expiry, reclaim, value)
      out[i] = '1' .. cur
    end
  else
    return redis.error_reply('unknown op type ' .. tostring(t))
  end
end
return out
)lua";

constexpr std::array<const char*, 5> kScripts = {
    kBatchScript,
    // timer_set: KEYS[1] the timer's payload key, KEYS[2] the due-time index
    // (a sorted set); ARGV[2] the due time, ARGV[4] the payload, ARGV[6] the id.
    R"lua(local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[6])
return existed)lua",
    // timer get
    R"lua(local v = redis.call('GET', KEYS[1])
if not v then return false end
return string.sub(v, string.find(v, '|', 1, true) + 1))lua",
    // timer erase
    R"lua(redis.call('ZREM', KEYS[2], ARGV[6])
return redis.call('DEL', KEYS[1]))lua",
    // claim: KEYS[1] the index; ARGV now, limit, lease, payload key prefix.
    // Moves each due timer a lease ahead and returns id, payload, id, ...
    R"lua(local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
local next = now + tonumber(ARGV[3])
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[4] .. id)
  if v then
    local payload = string.sub(v, string.find(v, '|', 1, true) + 1)
    redis.call('SET', ARGV[4] .. id, next .. '|' .. payload)
    redis.call('ZADD', KEYS[1], next, id)
    out[#out + 1] = id
    out[#out + 1] = payload
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out)lua",
};
constexpr std::size_t kBatch = 0;
constexpr std::size_t kTimerSet = 1;
constexpr std::size_t kTimerGet = 2;
constexpr std::size_t kTimerErase = 3;
constexpr std::size_t kClaim = 4;
// Ops per script call: Redis runs a script alone, so a long one holds up
// every other client (and instance) meanwhile.
constexpr std::size_t kMaxOpsPerCall = 256;
// Every timer key shares one hash tag: a claim reads the index and the
// payloads in one script, which Redis Cluster allows within one slot only.
constexpr std::string_view kTimerPrefix = "og:{timers}:p:";
constexpr std::string_view kTimerIndex = "og:{timers}:due";

std::size_t ScriptFor(const Op& op) {
  if (op.family != Family::timer) {
    return op.type == Op::Type::timer_set ? kScripts.size() : kBatch;
  }
  switch (op.type) {
    case Op::Type::timer_set: return kTimerSet;
    case Op::Type::get: return kTimerGet;
    case Op::Type::erase: return kTimerErase;
    default: return kScripts.size();  // not defined on timers
  }
}

constexpr milliseconds kReclaimSlack{60'000};

// An op's type in the batch script, by Op::Type.
constexpr std::string_view kBatchTypes = "gpceas";
static_assert(static_cast<std::size_t>(Op::Type::compare_and_set) == 5 &&
              static_cast<std::size_t>(Op::Type::timer_set) == 6);

// Reads a timer script's answer into its op.
bool TimerOpFromReply(Op& op, const redisReply* rr) {
  op.found = false;
  op.result.clear();
  switch (op.type) {
    case Op::Type::get:
      if (rr->type == REDIS_REPLY_STRING) {
        op.found = true;
        op.result.assign(rr->str, rr->len);
      }
      return true;
    case Op::Type::erase:
    case Op::Type::timer_set:
      op.found = rr->type == REDIS_REPLY_INTEGER && rr->integer == 1;
      return true;
    default:
      return false;  // not defined on timers (Execute refuses them)
  }
}

}  // namespace

class RedisStore::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, RedisStoreOptions options, const Clock& clock)
      : io_(io), options_(std::move(options)), clock_(clock), retry_(io), watchdog_(io) {}

  ~Impl() { Close(); }

  void Connect() {
    if (closed_) return;
    ac_ = redisAsyncConnect(options_.host.c_str(), options_.port);
    if (ac_ == nullptr || ac_->err != 0) {
      Failed(ac_ != nullptr ? ac_->errstr : "out of memory");
      if (ac_ != nullptr) redisAsyncFree(ac_);
      ac_ = nullptr;
      ScheduleReconnect();
      return;
    }
    ac_->data = this;
    ac_->ev.data = this;
    ac_->ev.addRead = [](void* p) { static_cast<Impl*>(p)->Want(true, true); };
    ac_->ev.delRead = [](void* p) { static_cast<Impl*>(p)->Want(true, false); };
    ac_->ev.addWrite = [](void* p) { static_cast<Impl*>(p)->Want(false, true); };
    ac_->ev.delWrite = [](void* p) { static_cast<Impl*>(p)->Want(false, false); };
    ac_->ev.cleanup = [](void* p) { static_cast<Impl*>(p)->Detach(); };
    socket_.emplace(io_, ac_->c.fd);
    redisAsyncSetConnectCallback(ac_, [](const redisAsyncContext* c, int status) {
      static_cast<Impl*>(c->data)->OnConnect(status);
    });
    redisAsyncSetDisconnectCallback(ac_, [](const redisAsyncContext* c, int status) {
      static_cast<Impl*>(c->data)->OnDisconnect(status);
    });
    // hiredis 0.14 asks for writability only when a command is queued; the
    // non-blocking connect completes on the first writable event, so wait
    // for it here.
    Want(false, true);
  }

  // `ops`: the batch's ops, in order, wherever they live (ExecuteParts
  // hands the parts' ops over without moving them into one vector).
  void Execute(std::vector<Op*> ops, Done done) {
    if (!ready_ || ac_ == nullptr) {
      asio::post(io_, [done = std::move(done)] { done(StoreStatus::unavailable); });
      return;
    }
    auto batch = std::make_shared<Batch>();
    batch->ops = std::move(ops);
    batch->done = std::move(done);
    batch->deadline = std::chrono::steady_clock::now() + options_.command_timeout;
    if (batch->ops.empty()) {
      asio::post(io_, [batch] { batch->done(StoreStatus::ok); });
      return;
    }
    const std::int64_t now =
        std::chrono::duration_cast<milliseconds>(clock_.Now().time_since_epoch()).count();
    // Timer ops go one by one (their scripts touch the shared index); the
    // others in script calls of up to kMaxOpsPerCall. Every call and every
    // refused op is counted before the first is sent, so a call that fails
    // at once does not settle the batch early.
    std::vector<std::size_t> plain;
    std::vector<std::size_t> singles;
    plain.reserve(batch->ops.size());
    for (std::size_t i = 0; i < batch->ops.size(); ++i) {
      const Op& op = *batch->ops[i];
      (op.family != Family::timer && ScriptFor(op) == kBatch ? plain : singles).push_back(i);
    }
    batch->pending = singles.size() + (plain.size() + kMaxOpsPerCall - 1) / kMaxOpsPerCall;
    for (const std::size_t i : singles) {
      const Op& op = *batch->ops[i];
      const std::size_t script = ScriptFor(op);
      if (script >= kScripts.size()) {
        spdlog::error("state: operation {} is not defined on family {}",
                      static_cast<int>(op.type), ToString(op.family));
        Settle(*batch, false, 1);
        continue;
      }
      SendTimerOp(batch, i, script, now);
    }
    for (std::size_t from = 0; from < plain.size(); from += kMaxOpsPerCall) {
      const std::size_t n = std::min(kMaxOpsPerCall, plain.size() - from);
      SendBatchCall(batch,
                    std::vector<std::size_t>(plain.begin() + static_cast<std::ptrdiff_t>(from),
                                             plain.begin() + static_cast<std::ptrdiff_t>(from + n)),
                    now);
    }
    in_flight_.push_back(batch);
    ArmWatchdog();
  }

  bool ready() const { return ready_; }

  void ClaimDueTimers(std::size_t limit, milliseconds lease, TimersDone done) {
    if (!ready_ || ac_ == nullptr) {
      asio::post(io_, [done = std::move(done)] { done(StoreStatus::unavailable, {}); });
      return;
    }
    const std::string now_s = std::to_string(
        std::chrono::duration_cast<milliseconds>(clock_.Now().time_since_epoch()).count());
    const std::string limit_s = std::to_string(limit);
    const std::string lease_s = std::to_string(lease.count());
    const std::string& sha = shas_[kClaim];
    const char* argv[] = {"EVALSHA",        sha.data(),     "1",           kTimerIndex.data(),
                          now_s.data(),     limit_s.data(), lease_s.data(), kTimerPrefix.data()};
    const std::size_t lens[] = {7,              sha.size(),     1,              kTimerIndex.size(),
                                now_s.size(),   limit_s.size(), lease_s.size(), kTimerPrefix.size()};
    // A batch of its own, so that the watchdog times a claim out like any
    // other command (an idle worker's only command may be its timer poll).
    auto batch = std::make_shared<Batch>();
    auto due = std::make_shared<std::vector<DueTimer>>();
    batch->pending = 1;
    batch->deadline = std::chrono::steady_clock::now() + options_.command_timeout;
    batch->done = [done = std::move(done), due](StoreStatus status) {
      done(status, status == StoreStatus::ok ? std::move(*due) : std::vector<DueTimer>());
    };
    auto* call = new ClaimCall{batch, due};
    if (redisAsyncCommandArgv(ac_, &Impl::OnClaimReply, call, 8, argv, lens) != REDIS_OK) {
      delete call;
      Settle(*batch, false, 1);
      return;
    }
    in_flight_.push_back(batch);
    ArmWatchdog();
  }




  void Close() {
    closed_ = true;
    retry_.cancel();
    watchdog_.cancel();
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      redisAsyncFree(ac);  // pending replies get their callback with no reply
    }
  }

 private:
  struct Batch {
    std::vector<Op*> ops;
    Done done;
    std::size_t pending = 0;
    bool failed = false;
    bool settled = false;
    std::chrono::steady_clock::time_point deadline;
  };
  struct Reply {
    std::shared_ptr<Batch> batch;
    std::size_t index;
  };
  struct BatchReply {
    std::shared_ptr<Batch> batch;
    std::vector<std::size_t> indexes;  // into batch->ops, in the call's order
  };

  // One call of the batch script for the ops at `indexes`, written in
  // RESP here and queued as it is (hiredis's argv formatting printed every
  // argument's header with sdscatfmt, and copied each argument twice).
  void SendBatchCall(const std::shared_ptr<Batch>& batch, std::vector<std::size_t> indexes,
                     std::int64_t now) {
    const std::size_t n = indexes.size();
    std::string& cmd = command_;
    cmd.clear();
    auto header = [&](char type, std::size_t count) {
      char digits[24];
      const auto end = std::to_chars(std::begin(digits), std::end(digits), count).ptr;
      cmd.push_back(type);
      cmd.append(digits, end);
      cmd.append("\r\n");
    };
    auto arg = [&](std::string_view a) {
      header('$', a.size());
      cmd.append(a);
      cmd.append("\r\n");
    };
    auto number = [&](std::int64_t v) {
      char digits[24];
      arg(std::string_view(digits, std::to_chars(std::begin(digits), std::end(digits), v).ptr));
    };
    header('*', 4 + 6 * n);
    arg("EVALSHA");
    arg(shas_[kBatch]);
    number(static_cast<std::int64_t>(n));
    for (const std::size_t i : indexes) {
      const Op& op = *batch->ops[i];
      const std::string_view family = ToString(op.family);
      header('$', 4 + family.size() + op.key.size());
      cmd.append("og:").append(family).append(":").append(op.key).append("\r\n");
    }
    number(now);
    for (const std::size_t i : indexes) {
      const Op& op = *batch->ops[i];
      const std::int64_t ttl = op.ttl.count();
      arg(kBatchTypes.substr(static_cast<std::size_t>(op.type), 1));
      number(ttl > 0 ? now + ttl : 0);
      number(ttl > 0 ? ttl + kReclaimSlack.count() : 0);
      arg(op.value);
      if (op.type == Op::Type::compare_and_set) {
        arg(op.expected);
      } else {
        number(op.keep);
      }
    }
    auto* reply_to = new BatchReply{batch, std::move(indexes)};
    if (redisAsyncFormattedCommand(ac_, &Impl::OnBatchReply, reply_to, cmd.data(), cmd.size()) !=
        REDIS_OK) {
      delete reply_to;
      Settle(*batch, false, 1);
    }
  }

  static void OnBatchReply(redisAsyncContext* c, void* r, void* privdata) {
    std::unique_ptr<BatchReply> reply(static_cast<BatchReply*>(privdata));
    auto* self = static_cast<Impl*>(c->data);
    auto* rr = static_cast<redisReply*>(r);
    Batch& b = *reply->batch;
    if (b.settled) return;
    bool ok =
        rr != nullptr && rr->type == REDIS_REPLY_ARRAY && rr->elements == reply->indexes.size();
    for (std::size_t k = 0; ok && k < reply->indexes.size(); ++k) {
      const redisReply* answer = rr->element[k];
      if (answer->type != REDIS_REPLY_STRING || answer->len < 1) {
        ok = false;
        break;
      }
      Op& op = *b.ops[reply->indexes[k]];
      op.found = answer->str[0] == '1';
      op.result.assign(answer->str + 1, answer->len - 1);
    }
    if (!ok && rr != nullptr && self != nullptr) {
      spdlog::error("state: redis refused a batch of {} ops: {}", reply->indexes.size(),
                    rr->type == REDIS_REPLY_ERROR ? std::string_view(rr->str, rr->len)
                                                  : std::string_view("unexpected answer"));
    }
    if (self != nullptr) self->Settle(b, ok, 1);
  }

  void SendTimerOp(const std::shared_ptr<Batch>& batch, std::size_t i, std::size_t script,
                   std::int64_t now) {
    Op& op = *batch->ops[i];
    const std::string key = std::string(kTimerPrefix) + op.key;
    const std::string now_s = std::to_string(now);
    const std::string due_s = std::to_string(op.due_ms);
    const std::string& sha = shas_[script];
    const char* argv[] = {"EVALSHA",      sha.data(),   "2",  key.data(), kTimerIndex.data(),
                          now_s.data(),   due_s.data(), "0",  op.value.data(), "0",
                          op.key.data()};
    const std::size_t lens[] = {7,           sha.size(),   1, key.size(), kTimerIndex.size(),
                                now_s.size(), due_s.size(), 1, op.value.size(), 1,
                                op.key.size()};
    auto* reply_to = new Reply{batch, i};
    if (redisAsyncCommandArgv(ac_, &Impl::OnReply, reply_to, 11, argv, lens) != REDIS_OK) {
      delete reply_to;
      Settle(*batch, false, 1);
    }
  }

  struct ClaimCall {
    std::shared_ptr<Batch> batch;
    std::shared_ptr<std::vector<DueTimer>> due;
  };

  static void OnClaimReply(redisAsyncContext* c, void* r, void* privdata) {
    std::unique_ptr<ClaimCall> call(static_cast<ClaimCall*>(privdata));
    auto* self = static_cast<Impl*>(c->data);
    auto* rr = static_cast<redisReply*>(r);
    if (call->batch->settled) return;  // timed out already
    const bool ok = rr != nullptr && rr->type == REDIS_REPLY_ARRAY;
    if (rr != nullptr && rr->type == REDIS_REPLY_ERROR) {
      spdlog::error("state: redis refused a timer claim: {}", std::string_view(rr->str, rr->len));
    }
    if (ok) {
      for (std::size_t i = 0; i + 1 < rr->elements; i += 2) {
        call->due->push_back({std::string(rr->element[i]->str, rr->element[i]->len),
                              std::string(rr->element[i + 1]->str, rr->element[i + 1]->len)});
      }
    }
    if (self != nullptr) self->Settle(*call->batch, ok, 1);
  }
  static void OnReply(redisAsyncContext* c, void* r, void* privdata) {
    std::unique_ptr<Reply> reply(static_cast<Reply*>(privdata));
    auto* self = static_cast<Impl*>(c->data);
    auto* rr = static_cast<redisReply*>(r);
    Batch& b = *reply->batch;
    if (b.settled) return;
    Op& op = *b.ops[reply->index];
    bool ok = rr != nullptr && rr->type != REDIS_REPLY_ERROR && TimerOpFromReply(op, rr);
    if (!ok && rr != nullptr && rr->type == REDIS_REPLY_ERROR && self != nullptr) {
      spdlog::error("state: redis refused a command: {}", std::string_view(rr->str, rr->len));
    }
    if (self != nullptr) self->Settle(b, ok, 1);
  }

  void Settle(Batch& b, bool ok, std::size_t n) {
    if (b.settled) return;
    b.failed = b.failed || !ok;
    b.pending -= std::min(n, b.pending);
    if (b.pending > 0) return;
    b.settled = true;
    b.done(b.failed ? StoreStatus::unavailable : StoreStatus::ok);
    while (!in_flight_.empty() && in_flight_.front()->settled) in_flight_.pop_front();
  }

  void Want(bool read, bool on) {
    (read ? want_read_ : want_write_) = on;
    if (on) Arm(read);
  }

  void Arm(bool read) {
    bool& armed = read ? read_armed_ : write_armed_;
    if (armed || !socket_) return;
    armed = true;
    socket_->async_wait(read ? asio::posix::descriptor_base::wait_read
                             : asio::posix::descriptor_base::wait_write,
                        [self = shared_from_this(), read](const boost::system::error_code& ec) {
                          (read ? self->read_armed_ : self->write_armed_) = false;
                          if (ec || self->ac_ == nullptr) return;
                          if (read) {
                            redisAsyncHandleRead(self->ac_);
                          } else {
                            redisAsyncHandleWrite(self->ac_);
                          }
                          if (self->socket_ && (read ? self->want_read_ : self->want_write_)) {
                            self->Arm(read);
                          }
                        });
  }

  // hiredis is closing the connection (it closes the descriptor itself).
  void Detach() {
    want_read_ = want_write_ = false;
    if (socket_) {
      boost::system::error_code ignored;
      socket_->cancel(ignored);
      socket_->release();
      socket_.reset();
    }
  }

  void OnConnect(int status) {
    if (status != REDIS_OK) {
      Failed(ac_ != nullptr ? ac_->errstr : "connect failed");
      ac_ = nullptr;  // hiredis frees it after this callback
      ScheduleReconnect();
      return;
    }
    // AUTH, then the scripts; ready when the last one is loaded.
    if (!options_.password.empty()) {
      const char* argv[] = {"AUTH", options_.password.data()};
      const std::size_t lens[] = {4, options_.password.size()};
      redisAsyncCommandArgv(ac_, &Impl::OnSetupReply, nullptr, 2, argv, lens);
    }
    loading_ = kScripts.size();
    for (std::size_t i = 0; i < kScripts.size(); ++i) {
      const std::string body = std::string(kLive) + kScripts[i];
      const char* argv[] = {"SCRIPT", "LOAD", body.data()};
      const std::size_t lens[] = {6, 4, body.size()};
      redisAsyncCommandArgv(ac_, &Impl::OnScriptLoaded, reinterpret_cast<void*>(i), 3, argv, lens);
    }
  }

  static void OnSetupReply(redisAsyncContext* c, void* r, void*) {
    auto* rr = static_cast<redisReply*>(r);
    if (rr != nullptr && rr->type == REDIS_REPLY_ERROR) {
      spdlog::error("state: redis AUTH failed: {} (check state.redis.password)",
                    std::string_view(rr->str, rr->len));
      redisAsyncDisconnect(c);
    }
  }

  static void OnScriptLoaded(redisAsyncContext* c, void* r, void* privdata) {
    auto* self = static_cast<Impl*>(c->data);
    auto* rr = static_cast<redisReply*>(r);
    if (self == nullptr || rr == nullptr) return;
    if (rr->type != REDIS_REPLY_STRING) {
      spdlog::error("state: redis SCRIPT LOAD failed: {}",
                    rr->type == REDIS_REPLY_ERROR ? std::string_view(rr->str, rr->len) : "?");
      redisAsyncDisconnect(c);
      return;
    }
    self->shas_[reinterpret_cast<std::size_t>(privdata)].assign(rr->str, rr->len);
    if (--self->loading_ == 0) {
      self->ready_ = true;
      if (self->was_down_) {
        spdlog::info("state: redis {}:{} is reachable again", self->options_.host,
                     self->options_.port);
      }
      self->was_down_ = false;
    }
  }

  void OnDisconnect(int status) {
    ready_ = false;
    ac_ = nullptr;  // freed by hiredis after this callback
    if (closed_) return;
    Failed(status == REDIS_OK ? "closed" : "connection lost");
    ScheduleReconnect();
  }

  void Failed(const char* why) {
    ready_ = false;
    if (!was_down_) {
      spdlog::warn("state: redis {}:{} unavailable ({}); nothing is sent unchecked, retrying "
                   "every {} ms",
                   options_.host, options_.port, why, options_.reconnect_backoff.count());
    }
    was_down_ = true;
  }

  void ScheduleReconnect() {
    if (closed_) return;
    retry_.expires_after(options_.reconnect_backoff);
    retry_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && self->ac_ == nullptr) self->Connect();
    });
  }

  // A batch that outlives command_timeout resets the connection: hiredis then
  // answers every pending command with no reply, which fails its batch.
  void ArmWatchdog() {
    if (watchdog_armed_) return;
    watchdog_armed_ = true;
    watchdog_.expires_after(milliseconds(100));
    watchdog_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->watchdog_armed_ = false;
      if (ec) return;
      while (!self->in_flight_.empty() && self->in_flight_.front()->settled) {
        self->in_flight_.pop_front();
      }
      if (self->in_flight_.empty()) return;
      if (std::chrono::steady_clock::now() > self->in_flight_.front()->deadline &&
          self->ac_ != nullptr) {
        spdlog::warn("state: redis did not answer within {} ms; reconnecting",
                     self->options_.command_timeout.count());
        redisAsyncDisconnect(self->ac_);
      }
      self->ArmWatchdog();
    });
  }

  asio::io_context& io_;
  RedisStoreOptions options_;
  const Clock& clock_;
  redisAsyncContext* ac_ = nullptr;
  std::optional<asio::posix::stream_descriptor> socket_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  // Read by connected() from any thread (the worker's probe, tests).
  std::atomic<bool> ready_{false};
  bool closed_ = false;
  bool was_down_ = false;
  bool watchdog_armed_ = false;
  std::size_t loading_ = 0;
  std::array<std::string, kScripts.size()> shas_;
  std::string command_;  // SendBatchCall's, reused
  asio::steady_timer retry_;
  asio::steady_timer watchdog_;
  std::deque<std::shared_ptr<Batch>> in_flight_;
};

RedisStore::RedisStore(asio::io_context& io, RedisStoreOptions options, const Clock& clock)
    : impl_(std::make_shared<Impl>(io, std::move(options), clock)) {}

RedisStore::~RedisStore() { impl_->Close(); }

void RedisStore::Start() { impl_->Connect(); }

void RedisStore::Execute(std::span<Op> ops, Done done) {
  const std::span<Op> parts[] = {ops};
  ExecuteParts(parts, std::move(done));
}

void RedisStore::ExecuteParts(std::span<const std::span<Op>> parts, Done done) {
  std::size_t total = 0;
  for (const auto part : parts) total += part.size();
  std::vector<Op*> all;
  all.reserve(total);
  for (const auto part : parts) {
    for (Op& op : part) all.push_back(&op);
  }
  impl_->Execute(std::move(all), std::move(done));
}

void RedisStore::ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                                TimersDone done) {
  impl_->ClaimDueTimers(limit, lease, std::move(done));
}

bool RedisStore::connected() const { return impl_->ready(); }

}  // namespace omnigate::state
