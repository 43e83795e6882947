#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

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
