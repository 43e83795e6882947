#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string_view>
#include <vector>

namespace omnigate::state {

// Which keys a column family may hold: a blocked Bloom filter (two bits in
// one 64-bit word per key) that the embedded store keeps for the families
// most lookups miss in (opt-outs and opt-ins: most recipients have neither).
// A lookup whose key the filter has never seen is answered "absent" without
// RocksDB's read path (super-version, memtable and per-file filters), the
// largest item of a send's store work after the writes.
//
// Never a false "absent": every write adds its key before it reaches RocksDB,
// and the filter starts from a scan of the family. Erased and expired keys
// stay in it (a lookup then goes to RocksDB, as without the filter); so do
// keys past the size it was made for, which only raises the share of
// lookups that do.
//
// Thread-safe: Add and MayContain may run on any threads at once (atomic
// words). A lookup that runs before a concurrent Add sees the key absent, as
// it would had it run before that write.
class KeyFilter {
 public:
  // Room for `expected_keys` at about 1 % false positives (16 bits a key),
  // at least 128 KiB.
  explicit KeyFilter(std::size_t expected_keys);

  void Add(std::string_view key) { AddHash(HashOf(key)); }
  bool MayContain(std::string_view key) const { return MayContainHash(HashOf(key)); }
  // The same with the key's hash already computed (HashOf): the embedded
  // store hashes each op's key once for its locks, maps and this filter.
  static std::uint64_t HashOf(std::string_view key);
  void AddHash(std::uint64_t hash);
  bool MayContainHash(std::uint64_t hash) const;
  std::size_t bytes() const { return (mask_ + 1) * sizeof(std::uint64_t); }

 private:
  static std::uint64_t Bits(std::uint64_t hash);
  std::size_t mask_;  // words - 1
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
};

}  // namespace omnigate::state

namespace omnigate::state {

// A KeyFilter for a family whose keys expire (dedup claims, cap lists), in
// generations: every add goes to the newest generation, and a generation is
// dropped once every key added to it has expired, so the filter follows the
// live keys instead of filling up. When the newest generation holds more
// keys than it was made for, Maintain starts a new one twice its size, so a
// day of traffic takes a few generations whatever its rate.
//
// Never a false "absent" for a live key: its last write added it to the
// then-newest generation with that write's expiry, and that generation is
// kept until the expiry has passed (by the caller's clock, the one its reads
// judge expiry with). Until MarkReady (after the scan of what the family
// already holds) every key "may" be there.
//
// Locking: AddHash and MayContainHash under a shared lock of `mu` (the
// embedded store's one mutex for all its filters, taken once per call);
// Maintain takes it exclusive.
class ExpiringKeyFilter {
 public:
  // `first_capacity` keys in the first generation (16 bits a key).
  ExpiringKeyFilter(std::size_t first_capacity, std::shared_mutex& mu);
  ExpiringKeyFilter(const ExpiringKeyFilter&) = delete;
  ExpiringKeyFilter& operator=(const ExpiringKeyFilter&) = delete;

  // expires_ms 0: never.
  void AddHash(std::uint64_t hash, std::int64_t expires_ms);
  bool MayContainHash(std::uint64_t hash) const;
  void MarkReady() { ready_.store(true, std::memory_order_release); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Drops the generations whose keys have all expired at `now_ms`, and adds
  // one when the newest is full. Takes the mutex exclusive.
  void Maintain(std::int64_t now_ms);
  std::size_t generations() const;
  std::size_t bytes() const;

 private:
  struct Generation {
    explicit Generation(std::size_t keys) : filter(keys), capacity(keys) {}
    KeyFilter filter;
    std::size_t capacity;
    std::atomic<std::size_t> added{0};
    std::atomic<std::int64_t> max_expires_ms{0};
  };
  // Past this many live generations the newest one just fills up (more
  // false "may contain", still no false "absent").
  static constexpr std::size_t kMaxGenerations = 8;
  std::shared_mutex& mu_;
  std::vector<std::unique_ptr<Generation>> generations_;  // oldest first
  std::atomic<bool> ready_{false};
};

}  // namespace omnigate::state
