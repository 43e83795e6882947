#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/result.h"
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
};

// The default backend: RocksDB on local disk, one column family per Family.
// Every value carries its expiry; reads treat an expired value as absent, and
// a compaction filter deletes expired rows later. Read-modify-write ops
// (put_if_absent, erase) take one of 64 striped mutexes by key, so two worker
// threads never both claim a key. Thread-safe; Execute is synchronous (a few
// microseconds per op from the memtable and block cache) and calls `done`
// before returning.
class EmbeddedStore final : public StateStore {
 public:
  static Result<std::unique_ptr<EmbeddedStore>, std::string> Open(const EmbeddedStoreOptions& options,
                                                                  const Clock& clock);
  ~EmbeddedStore() override;
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  void Execute(std::span<Op> ops, Done done) override;
  void ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                      TimersDone done) override;
  std::string_view backend() const override { return "embedded"; }

  // Runs a full compaction now (tests; operators use the periodic one).
  void CompactForTests();

 private:
  EmbeddedStore(const Clock& clock, bool sync);
  // One op. With `batch`, the caller holds every stripe the batch writes:
  // writes go to the batch, and reads see the batch's earlier writes.
  struct Pending;
  bool Run(Op& op, Pending* batch = nullptr);
  // Timers: "p" + id -> due (8 bytes, big-endian) + payload, and the index
  // "d" + due (big-endian, so that keys sort by time) + id -> "". Under
  // timers_mu_: a set, an erase and a claim each touch both.
  bool RunTimer(Op& op);
  std::mutex timers_mu_;
  std::mutex& Stripe(const std::string& key);

  const Clock& clock_;
  const bool sync_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> families_{};
  rocksdb::ColumnFamilyHandle* default_family_ = nullptr;
  std::array<std::mutex, 64> stripes_;
};

}  // namespace omnigate::state
