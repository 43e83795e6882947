#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "gateway/state/held_table.h"
#include "gateway/state/key_filter.h"
#include "gateway/state/state_store.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace omnigate::state {

struct EmbeddedStoreOptions {
  std::string path;  // directory; created when missing
  // fsync the write-ahead log on every write. Off: a process crash loses
  // nothing (the WAL is in the page cache), a power cut may lose the last
  // writes.
  bool sync_writes = false;
  // How long a write that may be lost in a crash (Op::may_lose_on_crash: a
  // dedup claim) is held in memory before it goes to RocksDB. Most claims
  // are replaced by their send's record well within it and never reach
  // RocksDB; the rest (failed, suppressed, long retries) are written then.
  std::chrono::milliseconds hold_volatile{5000};
  // More held writes than this are written out at once, whatever their age.
  std::size_t max_held = 200'000;
};

// The default backend: RocksDB on local disk, one column family per Family.
// Every value carries its expiry; reads treat an expired value as absent, and
// a compaction filter deletes expired rows later. Read-modify-write ops
// (put_if_absent, erase) take one of 32 striped mutexes by key, so two worker
// threads never both claim a key. Thread-safe; Execute is synchronous (a few
// microseconds per op from the memtable and block cache) and calls `done`
// before returning.
//
// Writes marked may_lose_on_crash are held in memory (hashed, by key) for up
// to `hold_volatile` before they are written without the WAL: a dedup claim
// is nearly always replaced by its send's record within milliseconds, and
// then costs RocksDB nothing (one memtable insert less per send). Every op
// sees a held write as it would see it in RocksDB; a crash loses it, as it
// would lose an unlogged memtable row; a clean close writes it out.
class EmbeddedStore final : public StateStore {
 public:
  static Result<std::unique_ptr<EmbeddedStore>, std::string> Open(const EmbeddedStoreOptions& options,
                                                                  const Clock& clock);
  ~EmbeddedStore() override;
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  void Execute(std::span<Op> ops, Done done) override;
  void ExecuteParts(std::span<const std::span<Op>> parts, Done done) override;
  void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                      TimersDone done) override;
  std::string_view backend() const override { return "embedded"; }

  // Runs a full compaction now (tests; operators use the periodic one).
  void CompactForTests();
  // How many writes are held in memory (tests).
  std::size_t HeldForTests() const { return held_count_.load(); }
  // Waits until the key filters have read what the families held at open
  // (tests: until then every lookup goes to RocksDB).
  void WaitForKeyFiltersForTests();

 private:
  EmbeddedStore(const Clock& clock, const EmbeddedStoreOptions& options);
  // A key and its hash (KeyFilter::HashOf), computed once per op: its
  // stripe, its held-write shard, the hash maps and the key filter all take
  // it from there.
  struct HashedView {
    std::string_view key;
    std::uint64_t hash;
  };
  // One op. With `batch`, the caller holds every stripe the batch writes:
  // writes go to the batch, and reads see the batch's earlier writes.
  struct Pending;
  // `now_ms`: the store's clock, read once per Execute.
  bool Run(Op& op, std::uint64_t hash, std::int64_t now_ms, Pending* batch = nullptr);
  // Timers: "p" + id -> due (8 bytes, big-endian) + payload, and the index
  // "d" + due (big-endian, so that keys sort by time) + id -> "". Under
  // timers_mu_: a set, an erase and a claim each touch both.
  bool RunTimer(Op& op);
  std::mutex timers_mu_;
  // 32: a batch may hold every stripe at once, besides RocksDB's own locks,
  // and ThreadSanitizer tracks at most 64 locks held by one thread.
  static constexpr std::size_t kStripes = 32;
  static std::size_t StripeIndex(std::uint64_t hash) { return hash % kStripes; }
  static std::uint64_t StripeBit(std::uint64_t hash) { return std::uint64_t{1} << StripeIndex(hash); }
  // The stripes of a set bit each, taken in ascending order (one order for
  // every caller: no deadlock between two overlapping sets) and released
  // by Unlock() or the destructor.
  class StripeLocks {
   public:
    StripeLocks(std::array<std::mutex, kStripes>& stripes, std::uint64_t mask);
    ~StripeLocks() { Unlock(); }
    StripeLocks(const StripeLocks&) = delete;
    StripeLocks& operator=(const StripeLocks&) = delete;
    void Unlock();

   private:
    std::array<std::mutex, kStripes>& stripes_;
    std::uint64_t held_;
  };

  // Held writes (see the class comment), in shards by family and key. A
  // shard's mutex is a leaf: nothing else is locked while it is held. Who
  // adds, replaces or removes a key's held write holds the key's stripe.
  struct HeldShard {
    std::mutex mu;
    HeldTable writes;
  };
  HeldShard& HeldShardOf(Family family, std::uint64_t hash);
  bool MayBeHeld(Family family) const;
  // The held write of `key`, copied into `raw`; false when none.
  bool FindHeld(Family family, HashedView key, std::string& raw);
  void Hold(Family family, HashedView key, std::string_view raw, std::int64_t now_ms);
  void Unhold(Family family, HashedView key);
  // Writes out the held writes older than the hold (all of them when
  // `everything`, or when more than max_held are held). Takes stripes: the
  // caller holds none.
  void SpillHeld(std::int64_t now_ms, bool everything);
  // SpillHeld every second or so (at most hold_volatile), by whichever
  // thread gets there first; at once when more than max_held are held.
  void MaybeSpillHeld(std::int64_t now_ms);

  const Clock& clock_;
  const bool sync_;
  const std::int64_t hold_ms_;
  const std::size_t max_held_;
  std::array<std::array<HeldShard, 16>, kFamilyCount> held_;
  std::atomic<std::size_t> held_count_{0};
  // Families that have ever had a write held: reads of the others skip the
  // lookup.
  std::atomic<std::uint32_t> held_families_{0};
  std::atomic<std::int64_t> next_spill_ms_{0};
  // The families with a key filter (opt-outs, opt-ins, claims, content
  // hashes, cap lists): a read of a key the filter has never seen is
  // answered absent without RocksDB. An Execute holds filters_mu_ shared;
  // their upkeep (MaybeSpillHeld) takes it exclusive.
  std::shared_mutex filters_mu_;
  std::array<std::unique_ptr<ExpiringKeyFilter>, kFamilyCount> filters_;
  // Reads what the filtered families hold at open into their filters, then
  // marks them ready; stopped by closing_.
  void ScanIntoFilters();
  std::thread filter_scan_;
  std::atomic<bool> closing_{false};
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families_{};
  std::array<std::uint32_t, kFamilyCount> family_ids_{};  // what a batch record names
  rocksdb::ColumnFamilyHandle* default_family_ = nullptr;
  std::array<std::mutex, kStripes> stripes_;
};

}  // namespace omnigate::state
