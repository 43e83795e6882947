#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace omnigate::state {

// The kinds of record the gateway keeps (DESIGN.md §9). The embedded backend
// holds each in its own RocksDB column family; the redis backend in its own
// key prefix.
enum class Family : std::uint8_t {
  dedup,        // (tenant, id) -> claim state of a request
  content,      // recipient + channel + content hash -> request id
  suppression,  // tenant + address + channel|* -> reason, source
  consent,      // tenant + address + channel|* -> source, time
  counter,      // frequency-cap windows
  status,       // request id -> state and history; provider id -> request id
  timer,        // durable schedules, deferrals, long retries, cascade timeouts
};
inline constexpr std::size_t kFamilyCount = 7;
std::string_view ToString(Family f);

// `list` + "," + `item`, keeping the newest `keep` items (at least one): what
// Op::Type::append stores. Both backends use the same rule; the redis one in
// Lua.
std::string AppendKeepingNewest(std::string_view list, std::string_view item, std::uint32_t keep);

// One read or write. Each op is atomic on its own; a batch is not a
// transaction (the redis backend pipelines it, and Redis Cluster could not
// make it one across slots).
struct Op {
  enum class Type : std::uint8_t {
    get,            // result = value, found = present and not expired
    put,            // value stored for ttl (0 = no expiry)
    put_if_absent,  // stored only when absent or expired; found = it existed, result = its value
    erase,          // found = it existed
    // Adds `value` (no commas) to the comma-separated list under the key,
    // keeps the newest `keep` items, sets the ttl; result = the new list.
    // Frequency caps keep their send times this way.
    append,
    // Stores `value` only when the live value equals `expected` (an empty
    // `expected`: absent or expired); found = it was stored; result = the
    // value before. A cascade step moves on this way, exactly once, whoever
    // (a receipt, its timeout) gets there first.
    compare_and_set,
    // Family::timer only: sets (or moves) timer `key` to fire at `due_ms`
    // with `value` as its payload. A get returns the payload; an erase
    // cancels the timer (found = it was set).
    timer_set,
  };
  Type type = Type::get;
  Family family = Family::dedup;
  std::string key;
  std::string value;
  std::chrono::milliseconds ttl{0};
  std::uint32_t keep = 0;  // append only
  // append only: false when the caller does not read `result` (a cap's
  // count, a history entry). The embedded store then writes the item as a
  // RocksDB merge operand instead of reading the list first; `found` and
  // `result` are left empty. Later reads see the same list either way.
  bool want_result = true;
  std::string expected;    // compare_and_set only
  std::int64_t due_ms = 0;  // timer_set only: epoch milliseconds
  // The write must be visible to every later op at once, but may be lost in
  // a crash (a dedup claim: after a crash the redelivered request is sent
  // whether its claim survived or not). The embedded backend then skips its
  // write-ahead log for a batch whose writes all say so.
  bool may_lose_on_crash = false;
  // Filled by Execute.
  bool found = false;
  std::string result;

  // Every field back to its default, the strings keeping their memory: an
  // op reused for the next request builds its key and value without
  // allocating.
  bool operator==(const Op&) const = default;
  void Clear() {
    type = Type::get;
    family = Family::dedup;
    key.clear();
    value.clear();
    ttl = std::chrono::milliseconds(0);
    keep = 0;
    want_result = true;
    expected.clear();
    due_ms = 0;
    may_lose_on_crash = false;
    found = false;
    result.clear();
  }
};

enum class StoreStatus : std::uint8_t {
  ok,
  unavailable,  // the store cannot be reached or written: nothing may be sent unchecked
};

// The gateway's state behind one interface with two backends (embedded
// RocksDB, shared Redis). Implementations are thread-safe; `done` runs exactly
// once, after every op has its result, on the thread that called Execute for
// synchronous backends (before Execute returns) or on the caller's executor
// for asynchronous ones. `ops` must stay alive until `done` runs.
// A timer that came due, as ClaimDueTimers hands it out.
struct DueTimer {
  std::string id;
  std::string payload;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  using Done = std::function<void(StoreStatus)>;
  virtual void Execute(std::span<Op> ops, Done done) = 0;
  // Several callers' ops as one batch (TurnBatcher): what Execute does with
  // their concatenation, each op's result in place. This default moves the
  // ops into one vector and back; the embedded store reads them where they
  // are. `parts` and their ops must stay alive until `done` runs.
  virtual void ExecuteParts(std::span<const std::span<Op>> parts, Done done);

  // Durable timers. Hands out up to `limit` timers due by the store's clock
  // and moves each `lease` into the future: whoever claimed it fires it, and
  // must erase it (or set it again) before the lease runs out, or it comes
  // due again for anyone (a crashed instance's timers are fired by the
  // others). On the redis backend instances share the timers, and a claim is
  // atomic: one instance fires a timer once per lease.
  using TimersDone = std::function<void(StoreStatus, std::vector<DueTimer>)>;
  virtual void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                              TimersDone done) = 0;
  // "embedded" or "redis", for logs and /readyz.
  virtual std::string_view backend() const = 0;
};

}  // namespace omnigate::state
