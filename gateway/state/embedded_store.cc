#include "gateway/state/embedded_store.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/thread_name.h"
#include "gateway/state/batch_builder.h"
#include "gateway/state/hash_memtable.h"

namespace omnigate::state {
namespace {

using std::chrono::milliseconds;

constexpr Family kFilteredFamilies[] = {Family::suppression, Family::consent, Family::dedup,
                                        Family::content, Family::counter};

// Value layout: 8 bytes of expiry (milliseconds since the Unix epoch, host
// order; 0 = never) followed by the payload.
constexpr std::size_t kHeader = sizeof(std::int64_t);

std::int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<milliseconds>(clock.Now().time_since_epoch()).count();
}

std::string Encode(std::int64_t expires_ms, std::string_view payload) {
  std::string out(kHeader + payload.size(), '\0');
  std::memcpy(out.data(), &expires_ms, kHeader);
  if (!payload.empty()) std::memcpy(out.data() + kHeader, payload.data(), payload.size());
  return out;
}

// False for a row too short to be ours (treated as absent).
bool Decode(std::string_view raw, std::int64_t& expires_ms, std::string_view& payload) {
  if (raw.size() < kHeader) return false;
  std::memcpy(&expires_ms, raw.data(), kHeader);
  payload = raw.substr(kHeader);
  return true;
}

bool Live(std::int64_t expires_ms, std::int64_t now_ms) { return expires_ms == 0 || now_ms < expires_ms; }

// The last level's compression: LZ4 where this RocksDB has it (cheaper to
// write than Snappy), else Snappy, else none.
rocksdb::CompressionType BottommostCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (const auto type : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), type) != supported.end()) return type;
  }
  return rocksdb::kNoCompression;
}

// Drops expired rows while compacting. Uses the wall clock: compaction is
// RocksDB's own business and an injected test clock must not delete data.
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  bool Filter(int /*level*/, const rocksdb::Slice& /*key*/, const rocksdb::Slice& value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    std::int64_t expires = 0;
    std::string_view payload;
    if (!Decode(std::string_view(value.data(), value.size()), expires, payload)) return false;
    return !Live(expires, NowMs(SystemClock::Instance()));
  }
  const char* Name() const override { return "omnigate.ExpiryFilter"; }
};

const ExpiryFilter& Filter() {
  static const ExpiryFilter filter;
  return filter;
}

// An append written without reading the list (Op::want_result false): a
// merge operand of the write's time, the list's new expiry, `keep`, then the
// item. Folded into the list by AppendMerge (reads, flushes, compactions) or
// by the batch itself when it reads the key again.
constexpr std::size_t kOperandHeader = 2 * sizeof(std::int64_t) + sizeof(std::uint32_t);

using OperandHeader = std::array<char, kOperandHeader>;

OperandHeader EncodeAppendHeader(std::int64_t now_ms, std::int64_t expires_ms, std::uint32_t keep) {
  OperandHeader out;
  std::memcpy(out.data(), &now_ms, sizeof(now_ms));
  std::memcpy(out.data() + 8, &expires_ms, sizeof(expires_ms));
  std::memcpy(out.data() + 16, &keep, sizeof(keep));
  return out;
}

std::string EncodeAppend(std::int64_t now_ms, std::int64_t expires_ms, std::uint32_t keep,
                         std::string_view item) {
  const OperandHeader header = EncodeAppendHeader(now_ms, expires_ms, keep);
  std::string out(header.data(), header.size());
  out.append(item);
  return out;
}

// The stored value (`base`, null when absent) with the appends applied in
// order, each as Op::Type::append would have at its own time: a list that
// had expired by then starts again empty.
std::string ApplyAppends(const std::string_view* base, std::span<const std::string_view> appends) {
  std::int64_t expires = 0;
  std::string list;
  bool live = false;
  if (base != nullptr) {
    std::string_view payload;
    if (Decode(*base, expires, payload)) {
      list.assign(payload);
      live = true;
    }
  }
  for (const std::string_view a : appends) {
    if (a.size() < kOperandHeader) continue;  // not ours: ignored
    std::int64_t now_ms = 0;
    std::int64_t new_expires = 0;
    std::uint32_t keep = 0;
    std::memcpy(&now_ms, a.data(), sizeof(now_ms));
    std::memcpy(&new_expires, a.data() + 8, sizeof(new_expires));
    std::memcpy(&keep, a.data() + 16, sizeof(keep));
    if (!live || !Live(expires, now_ms)) list.clear();
    list = AppendKeepingNewest(list, a.substr(kOperandHeader), keep);
    expires = new_expires;
    live = true;
  }
  return Encode(expires, list);
}

class AppendMerge final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<std::string_view> appends;
    appends.reserve(in.operand_list.size());
    for (const auto& o : in.operand_list) appends.emplace_back(o.data(), o.size());
    std::string_view base;
    if (in.existing_value != nullptr) {
      base = std::string_view(in.existing_value->data(), in.existing_value->size());
    }
    out->new_value = ApplyAppends(in.existing_value != nullptr ? &base : nullptr, appends);
    return true;
  }
  const char* Name() const override { return "omnigate.AppendMerge"; }
};

}  // namespace

Result<std::unique_ptr<EmbeddedStore>, std::string> EmbeddedStore::Open(
    const EmbeddedStoreOptions& options, const Clock& clock) {
  std::unique_ptr<EmbeddedStore> self(new EmbeddedStore(clock, options));
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // Two or more worker threads write small batches at once. With adaptive
  // yield a waiting writer spins in sched_yield, which cost more CPU per send
  // than the writes themselves in policy-embedded (bench/README.md).
  db_options.enable_write_thread_adaptive_yield = false;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.compaction_filter = &Filter();
  cf_options.merge_operator = std::make_shared<AppendMerge>();
  // Most lookups miss (no opt-out, no earlier claim): bloom filters answer
  // them without walking the memtable's skip list or reading SST blocks.
  cf_options.memtable_prefix_bloom_size_ratio = 0.1;
  cf_options.memtable_whole_key_filtering = true;
  // 8 MiB memtables instead of RocksDB's 64: every send inserts five keys,
  // and the skip list's splice search over a big memtable was a sixth of
  // policy-embedded's CPU (cache misses on every level); a smaller one stays
  // in cache. Flushes come more often, in the background (bench/README.md).
  cf_options.write_buffer_size = 8 << 20;
  // Flushes and the compactions above the last level write uncompressed: the
  // keys are ids, hashes and addresses, which Snappy hardly shrinks, and it
  // was a tenth of RocksDB's background CPU in policy-embedded. The last
  // level, where the bulk of a day's rows settles, is still compressed.
  cf_options.compression = rocksdb::kNoCompression;
  cf_options.bottommost_compression = BottommostCompression();
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Every family but the timers' is read by key only: a hash table instead
  // of the skip list (hash_memtable.h). It takes one writer at a time, as
  // RocksDB's write group already makes the store's writes.
  rocksdb::ColumnFamilyOptions keyed_options = cf_options;
  if (HashMemTableSupported()) {
    db_options.allow_concurrent_memtable_write = false;
    keyed_options.memtable_factory = NewHashMemTableFactory(cf_options.write_buffer_size / 64);
    // A lookup walks one bucket chain; a bloom filter in front of it would
    // hash every insert and every read a second time to save little.
    keyed_options.memtable_prefix_bloom_size_ratio = 0;
    keyed_options.memtable_whole_key_filtering = false;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    const auto family = static_cast<Family>(i);
    descriptors.emplace_back(std::string(ToString(family)),
                             family == Family::timer ? cf_options : keyed_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &db);
  if (!s.ok()) {
    return MakeUnexpected("state.path '" + options.path + "': " + s.ToString() +
                          " (Hint: another omnigate may hold the directory; each instance "
                          "needs its own state.path with the embedded backend)");
  }
  self->db_.reset(db);
  self->default_family_ = handles[0];
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    self->families_[i] = handles[i + 1];
    self->family_ids_[i] = handles[i + 1]->GetID();
  }
  // Most reads miss: no opt-out or opt-in for most addresses, no earlier
  // claim for a new id, no cap list for a recipient not sent to today.
  // Each such family gets a filter, sized from RocksDB's estimate of its
  // keys; what the family holds is read into it in the background.
  for (const Family f : kFilteredFamilies) {
    std::uint64_t estimate = 0;
    db->GetIntProperty(self->families_[static_cast<std::size_t>(f)], "rocksdb.estimate-num-keys",
                       &estimate);
    const std::size_t first = std::max<std::size_t>(2 * estimate, std::size_t{1} << 18);
    self->filters_[static_cast<std::size_t>(f)] =
        std::make_unique<ExpiringKeyFilter>(first, self->filters_mu_);
  }
  self->filter_scan_ = std::thread([store = self.get()] {
    SetThreadName("og-filter-scan");
    store->ScanIntoFilters();
  });
  return self;
}

void EmbeddedStore::ScanIntoFilters() {
  for (const Family f : kFilteredFamilies) {
    ExpiringKeyFilter& filter = *filters_[static_cast<std::size_t>(f)];
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), families_[static_cast<std::size_t>(f)]));
    it->SeekToFirst();
    while (it->Valid()) {
      if (closing_.load(std::memory_order_relaxed)) return;
      // In chunks: the upkeep's exclusive lock waits for one chunk at most.
      std::shared_lock lock(filters_mu_);
      for (int n = 0; n < 4096 && it->Valid(); ++n, it->Next()) {
        std::int64_t expires = 0;
        std::string_view payload;
        if (!Decode(std::string_view(it->value().data(), it->value().size()), expires, payload)) {
          expires = 0;  // not ours: kept as if it never expired
        }
        filter.AddHash(KeyFilter::HashOf(std::string_view(it->key().data(), it->key().size())),
                       expires);
      }
    }
    if (!it->status().ok()) {
      // Not ready: its lookups keep going to RocksDB.
      spdlog::error("state: reading family {} into its key filter: {}; its reads go to RocksDB",
                    ToString(f), it->status().ToString());
      continue;
    }
    filter.MarkReady();
  }
}

void EmbeddedStore::WaitForKeyFiltersForTests() {
  if (filter_scan_.joinable()) filter_scan_.join();
}

EmbeddedStore::EmbeddedStore(const Clock& clock, const EmbeddedStoreOptions& options)
    : clock_(clock),
      sync_(options.sync_writes),
      hold_ms_(std::max<std::int64_t>(0, options.hold_volatile.count())),
      max_held_(options.max_held) {}

EmbeddedStore::~EmbeddedStore() {
  closing_.store(true);
  if (filter_scan_.joinable()) filter_scan_.join();
  if (!db_) return;
  // A clean close keeps what a crash would lose.
  SpillHeld(NowMs(clock_), /*everything=*/true);
  for (auto* h : families_) db_->DestroyColumnFamilyHandle(h);
  db_->DestroyColumnFamilyHandle(default_family_);
  db_->Close();
}

EmbeddedStore::StripeLocks::StripeLocks(std::array<std::mutex, kStripes>& stripes,
                                        std::uint64_t mask)
    : stripes_(stripes), held_(mask) {
  for (std::uint64_t m = mask; m != 0; m &= m - 1) stripes_[std::countr_zero(m)].lock();
}

void EmbeddedStore::StripeLocks::Unlock() {
  for (std::uint64_t m = held_; m != 0; m &= m - 1) stripes_[std::countr_zero(m)].unlock();
  held_ = 0;
}

EmbeddedStore::HeldShard& EmbeddedStore::HeldShardOf(Family family, std::uint64_t hash) {
  auto& shards = held_[static_cast<std::size_t>(family)];
  // Not the stripe's hash bits: a stripe's keys spread over the shards.
  return shards[(hash >> 8) % shards.size()];
}

bool EmbeddedStore::MayBeHeld(Family family) const {
  return (held_families_.load(std::memory_order_acquire) & (1U << static_cast<unsigned>(family))) != 0;
}

bool EmbeddedStore::FindHeld(Family family, HashedView key, std::string& raw) {
  HeldShard& shard = HeldShardOf(family, key.hash);
  std::lock_guard lock(shard.mu);
  const HeldTable::Entry* e = shard.writes.Find(key.key, key.hash);
  if (e == nullptr) return false;
  raw = e->raw;
  return true;
}

void EmbeddedStore::Hold(Family family, HashedView key, std::string_view raw, std::int64_t now_ms) {
  // Set once per family: no read-modify-write of the shared word per claim.
  if (!MayBeHeld(family)) {
    held_families_.fetch_or(1U << static_cast<unsigned>(family), std::memory_order_acq_rel);
  }
  HeldShard& shard = HeldShardOf(family, key.hash);
  std::lock_guard lock(shard.mu);
  bool added = false;
  HeldTable::Entry& e = shard.writes.Insert(key.key, key.hash, added);
  if (added) held_count_.fetch_add(1, std::memory_order_relaxed);
  e.raw.assign(raw);
  e.since_ms = now_ms;
}

void EmbeddedStore::Unhold(Family family, HashedView key) {
  HeldShard& shard = HeldShardOf(family, key.hash);
  std::lock_guard lock(shard.mu);
  if (shard.writes.Erase(key.key, key.hash)) held_count_.fetch_sub(1, std::memory_order_relaxed);
}

void EmbeddedStore::SpillHeld(std::int64_t now_ms, bool everything) {
  everything = everything || held_count_.load(std::memory_order_relaxed) > max_held_;
  struct Due {
    Family family;
    std::string key;
    std::uint64_t hash;
  };
  std::vector<Due> due;
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    for (HeldShard& shard : held_[f]) {
      std::lock_guard lock(shard.mu);
      shard.writes.EraseIf([&](const HeldTable::Entry& e) {
        std::int64_t expires = 0;
        std::string_view payload;
        if (!Decode(e.raw, expires, payload) || !Live(expires, now_ms)) {
          held_count_.fetch_sub(1, std::memory_order_relaxed);
          return true;  // expired while held: nothing to write
        }
        if (everything || e.since_ms + hold_ms_ <= now_ms) {
          due.push_back({static_cast<Family>(f), e.key, e.hash});
        }
        return false;
      });
    }
  }
  // In chunks: their keys' stripes, taken in order, keep any other write of
  // those keys out while each still-held write goes to RocksDB and then
  // leaves the memory.
  constexpr std::size_t kChunk = 512;
  for (std::size_t begin = 0; begin < due.size(); begin += kChunk) {
    const std::size_t end = std::min(due.size(), begin + kChunk);
    std::uint64_t stripes = 0;
    for (std::size_t i = begin; i < end; ++i) stripes |= StripeBit(due[i].hash);
    const StripeLocks locks(stripes_, stripes);
    rocksdb::WriteBatch batch;
    std::vector<std::size_t> written;
    for (std::size_t i = begin; i < end; ++i) {
      HeldShard& shard = HeldShardOf(due[i].family, due[i].hash);
      std::lock_guard lock(shard.mu);
      const HeldTable::Entry* e = shard.writes.Find(due[i].key, due[i].hash);
      if (e == nullptr) continue;  // replaced by a durable write meanwhile
      batch.Put(families_[static_cast<std::size_t>(due[i].family)], due[i].key, e->raw);
      written.push_back(i);
    }
    if (written.empty()) continue;
    rocksdb::WriteOptions write;
    write.sync = sync_;
    write.disableWAL = !sync_;
    if (!db_->Write(write, &batch).ok()) {
      spdlog::error("state: the embedded store could not write {} held claims; they stay in "
                    "memory", written.size());
      return;
    }
    for (const std::size_t i : written) Unhold(due[i].family, HashedView{due[i].key, due[i].hash});
  }
}

namespace {

std::string BigEndian(std::int64_t v) {
  std::string out(8, '\0');
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(u >> (56 - 8 * i));
  return out;
}

std::int64_t FromBigEndian(std::string_view b) {
  std::uint64_t u = 0;
  for (std::size_t i = 0; i < 8 && i < b.size(); ++i) u = (u << 8) | static_cast<unsigned char>(b[i]);
  return static_cast<std::int64_t>(u);
}

std::string TimerPayloadKey(std::string_view id) { return "p" + std::string(id); }
std::string TimerIndexKey(std::int64_t due, std::string_view id) {
  return "d" + BigEndian(due) + std::string(id);
}

}  // namespace

bool EmbeddedStore::RunTimer(Op& op) {
  auto* cf = families_[static_cast<std::size_t>(Family::timer)];
  rocksdb::WriteOptions write;
  write.sync = sync_;
  std::lock_guard lock(timers_mu_);
  std::string raw;
  const auto s = db_->Get(rocksdb::ReadOptions(), cf, TimerPayloadKey(op.key), &raw);
  if (!s.ok() && !s.IsNotFound()) return false;
  op.found = s.ok() && raw.size() >= 8;
  op.result.clear();
  rocksdb::WriteBatch batch;
  if (op.found && op.type != Op::Type::get) {
    batch.Delete(cf, TimerIndexKey(FromBigEndian(raw), op.key));
  }
  switch (op.type) {
    case Op::Type::get:
      if (op.found) op.result.assign(raw.data() + 8, raw.size() - 8);
      return true;
    case Op::Type::timer_set:
      batch.Put(cf, TimerPayloadKey(op.key), BigEndian(op.due_ms) + op.value);
      batch.Put(cf, TimerIndexKey(op.due_ms, op.key), "");
      break;
    case Op::Type::erase:
      batch.Delete(cf, TimerPayloadKey(op.key));
      break;
    default:
      spdlog::error("state: operation {} is not defined on timers", static_cast<int>(op.type));
      return false;
  }
  return db_->Write(write, &batch).ok();
}

void EmbeddedStore::ClaimDueTimers(std::size_t limit, std::chrono::milliseconds lease,
                                   TimersDone done) {
  auto* cf = families_[static_cast<std::size_t>(Family::timer)];
  const std::int64_t now = NowMs(clock_);
  std::vector<DueTimer> due;
  rocksdb::WriteBatch batch;
  {
    std::lock_guard lock(timers_mu_);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->Seek("d"); it->Valid() && due.size() < limit; it->Next()) {
      const std::string_view key(it->key().data(), it->key().size());
      if (key.empty() || key[0] != 'd' || key.size() < 9) break;
      if (FromBigEndian(key.substr(1, 8)) > now) break;
      const std::string id(key.substr(9));
      std::string raw;
      batch.Delete(cf, std::string(key));
      if (!db_->Get(rocksdb::ReadOptions(), cf, TimerPayloadKey(id), &raw).ok() || raw.size() < 8) {
        continue;  // an index row without its timer: dropped
      }
      const std::int64_t next = now + lease.count();
      batch.Put(cf, TimerPayloadKey(id), BigEndian(next) + raw.substr(8));
      batch.Put(cf, TimerIndexKey(next, id), "");
      due.push_back({id, raw.substr(8)});
    }
    if (!it->status().ok() ||
        (batch.Count() > 0 && !db_->Write(rocksdb::WriteOptions(), &batch).ok())) {
      spdlog::error("state: the embedded store cannot read or move its timers");
      done(StoreStatus::unavailable, {});
      return;
    }
  }
  done(StoreStatus::ok, std::move(due));
}

// A multi-op batch's writes, applied together by one rocksdb::Write: one
// write-ahead-log append and one write-group join per batch instead of one
// per op (the policy records a send and counts it in one batch).
struct EmbeddedStore::Pending {
  // `ops`: how many ops the batch runs at most (sizes its tables once).
  explicit Pending(std::size_t ops) : writes(ops * 96) {
    std::size_t slots = 16;
    while (slots < 2 * ops) slots *= 2;
    index.assign(slots, 0);
    entries.reserve(ops);
  }

  BatchBuilder writes;

  // What the batch has written so far, per (family, key), for its own later
  // reads: a flat table (a worker's batch holds a whole loop turn's
  // requests, and most of its reads find nothing here). An entry's key
  // views the op's own string, which outlives the batch; its value and its
  // merge operands are where the batch already keeps them (the write
  // batch's bytes, a held change's), not copied again.
  struct Ref {
    std::uint32_t offset = 0;  // in writes.Data(), or in held_bytes for a held value
    std::uint32_t size = 0;
  };
  struct Entry {
    Family family;
    std::string_view key;
    std::uint64_t hash;
    enum class Kind : std::uint8_t { merges_only, value, held_value, deleted } kind;
    Ref value;
    // Appends written as merge operands, while the key has no value here:
    // a later read of the key applies them to what it reads; a later write
    // of the key replaces them. A chain through `operands`.
    std::int32_t first_operand = -1;
    std::int32_t last_operand = -1;
  };
  struct Operand {
    Ref bytes;
    std::int32_t next = -1;
  };
  std::vector<Entry> entries;
  std::vector<std::uint32_t> index;  // entry + 1, 0 for a free slot
  std::vector<Operand> operands;

  // Held writes to make and to drop, in the batch's order, once its RocksDB
  // writes are in: a failed batch leaves no claim behind.
  struct HeldChange {
    Family family;
    const std::string* key;
    std::uint64_t hash;
    bool hold;  // false: drop the held write
    Ref raw;    // in held_bytes
  };
  std::vector<HeldChange> held_changes;
  std::string held_bytes;  // the held changes' values, one after the other
  std::uint32_t held_families = 0;  // a bit per family with a held change
  bool all_may_lose = true;

  // The slot of (family, key) in `index`: its entry's, or the free slot
  // where it would go.
  std::size_t Slot(Family family, HashedView key) const {
    const std::size_t mask = index.size() - 1;
    std::size_t i = (key.hash ^ static_cast<std::size_t>(family)) & mask;
    for (; index[i] != 0; i = (i + 1) & mask) {
      const Entry& e = entries[index[i] - 1];
      if (e.hash == key.hash && e.family == family && e.key == key.key) break;
    }
    return i;
  }
  Entry* Lookup(Family family, HashedView key) {
    if (entries.empty()) return nullptr;
    const std::uint32_t at = index[Slot(family, key)];
    return at == 0 ? nullptr : &entries[at - 1];
  }
  Entry& Insert(Family family, HashedView key) {
    const std::size_t i = Slot(family, key);
    if (index[i] != 0) return entries[index[i] - 1];
    // A batch writes each op's key at most once per op: `ops` entries, half
    // the slots at most.
    entries.push_back(Entry{family, key.key, key.hash, Entry::Kind::merges_only, {}});
    index[i] = static_cast<std::uint32_t>(entries.size());
    return entries.back();
  }
  // The last `size` bytes the write batch took: the value of its newest
  // record (a record ends with its value).
  Ref Last(std::size_t size) const {
    return Ref{static_cast<std::uint32_t>(writes.Data().size() - size),
               static_cast<std::uint32_t>(size)};
  }
  std::string_view HeldBytes(Ref r) const {
    return std::string_view(held_bytes).substr(r.offset, r.size);
  }
  // A held change of `key` to `expires` + `payload`, its bytes in held_bytes.
  void AddHeld(Family family, const std::string* key, std::uint64_t hash, std::int64_t expires,
               std::string_view payload) {
    const Ref raw{static_cast<std::uint32_t>(held_bytes.size()),
                  static_cast<std::uint32_t>(kHeader + payload.size())};
    char header[kHeader];
    std::memcpy(header, &expires, kHeader);
    held_bytes.append(header, kHeader);
    held_bytes.append(payload);
    held_changes.push_back({family, key, hash, true, raw});
  }
  std::string_view BatchBytes(Ref r) const {
    return std::string_view(writes.Data()).substr(r.offset, r.size);
  }

  // Whether the batch wrote (or deleted) the key; `raw` is its value then.
  bool Find(Family family, HashedView key, std::optional<std::string_view>& raw) {
    const Entry* e = Lookup(family, key);
    if (e == nullptr || e->kind == Entry::Kind::merges_only) return false;
    switch (e->kind) {
      case Entry::Kind::value: raw = BatchBytes(e->value); break;
      case Entry::Kind::held_value: raw = HeldBytes(e->value); break;
      default: raw.reset(); break;
    }
    return true;
  }
  bool Written(Family family, HashedView key) {
    const Entry* e = Lookup(family, key);
    return e != nullptr && e->kind != Entry::Kind::merges_only;
  }
  // The key's value is now what the batch's newest record holds.
  void RecordValue(Family family, HashedView key, std::size_t size) {
    Entry& e = Insert(family, key);
    e.kind = Entry::Kind::value;
    e.value = Last(size);
    e.first_operand = e.last_operand = -1;
  }
  // ... the newest held change's value.
  void RecordHeld(Family family, HashedView key) {
    Entry& e = Insert(family, key);
    e.kind = Entry::Kind::held_value;
    e.value = held_changes.back().raw;
    e.first_operand = e.last_operand = -1;
  }
  void RecordDelete(Family family, HashedView key) {
    Entry& e = Insert(family, key);
    e.kind = Entry::Kind::deleted;
    e.first_operand = e.last_operand = -1;
  }
  // The batch's newest record is a merge operand of `size` bytes for the key.
  void RecordOperand(Family family, HashedView key, std::size_t size) {
    Entry& e = Insert(family, key);
    operands.push_back(Operand{Last(size)});
    const auto added = static_cast<std::int32_t>(operands.size() - 1);
    if (e.last_operand >= 0) operands[static_cast<std::size_t>(e.last_operand)].next = added;
    else e.first_operand = added;
    e.last_operand = added;
  }
  // The operands the batch wrote for the key, in order (views into the
  // batch: valid until its next write).
  void Operands(Family family, HashedView key, std::vector<std::string_view>& out) {
    out.clear();
    const Entry* e = Lookup(family, key);
    if (e == nullptr) return;
    for (std::int32_t i = e->first_operand; i >= 0; i = operands[static_cast<std::size_t>(i)].next) {
      out.push_back(BatchBytes(operands[static_cast<std::size_t>(i)].bytes));
    }
  }
};

bool EmbeddedStore::Run(Op& op, std::uint64_t hash, std::int64_t now, Pending* batch) {
  if (op.family == Family::timer) return RunTimer(op);
  const HashedView key{op.key, hash};
  // A write takes the key's stripe (unless the batch holds it), so that it
  // never lands between the read and the write of another thread's
  // put_if_absent or append. Before the filter's answer, which such a write
  // may change.
  std::unique_lock<std::mutex> lock;
  if (batch == nullptr && op.type != Op::Type::get) lock = std::unique_lock(stripes_[StripeIndex(hash)]);
  ExpiringKeyFilter* const filter = filters_[static_cast<std::size_t>(op.family)].get();
  // Never written, or not since it expired: every write adds its key first
  // (one earlier in this batch too), so there is nothing to read.
  const bool never_written = filter != nullptr && !filter->MayContainHash(hash);
  if (never_written && op.type == Op::Type::get) {
    op.found = false;
    op.result.clear();
    return true;
  }
  const std::int64_t expires = op.ttl.count() > 0 ? now + op.ttl.count() : 0;
  auto* cf = families_[static_cast<std::size_t>(op.family)];
  rocksdb::WriteOptions write;
  write.sync = sync_;
  write.disableWAL = op.may_lose_on_crash && !sync_;
  // A write held by an earlier call is looked up, one held earlier in this
  // batch is in its overlay; a durable write drops either.
  const std::uint32_t family_bit = 1U << static_cast<unsigned>(op.family);
  const bool held_before = MayBeHeld(op.family);
  const bool may_be_held =
      held_before || (batch != nullptr && (batch->held_families & family_bit) != 0);
  auto read_live = [&](bool& found, std::string& out) -> bool {
    found = false;
    if (never_written) return true;
    std::string raw;
    std::string_view view;  // the stored bytes: `raw`'s, or the batch's own
    bool have = false;
    std::optional<std::string_view> written;
    if (batch != nullptr && batch->Find(op.family, key, written)) {
      if (!written) return true;  // deleted earlier in the batch
      view = *written;
      have = true;
    } else {
      if (held_before && FindHeld(op.family, key, raw)) {
        have = true;
      } else {
        const auto s = db_->Get(rocksdb::ReadOptions(), cf, op.key, &raw);
        if (!s.ok() && !s.IsNotFound()) return false;
        have = s.ok();
      }
      // Appends this batch wrote as merge operands, on top.
      if (batch != nullptr) {
        std::vector<std::string_view> appends;
        batch->Operands(op.family, key, appends);
        if (!appends.empty()) {
          const std::string_view base(raw);
          raw = ApplyAppends(have ? &base : nullptr, appends);
          have = true;
        }
      }
      view = raw;
    }
    if (!have) return true;
    std::int64_t stored_expires = 0;
    std::string_view payload;
    if (Decode(view, stored_expires, payload) && Live(stored_expires, now)) {
      found = true;
      out.assign(payload);
    }
    return true;
  };
  // `payload`: the op's own value or result, stored after the expiry.
  auto put = [&](std::string_view payload) -> bool {
    if (filter != nullptr) filter->AddHash(hash, expires);  // before any reader can find the write
    if (op.may_lose_on_crash && hold_ms_ > 0) {
      // Held in memory, not written (see the class comment).
      if (batch == nullptr) {
        Hold(op.family, key, Encode(expires, payload), now);
        return true;
      }
      batch->AddHeld(op.family, &op.key, hash, expires, payload);
      batch->held_families |= family_bit;
      batch->RecordHeld(op.family, key);
      return true;
    }
    if (batch == nullptr) {
      if (!db_->Put(write, cf, op.key, Encode(expires, payload)).ok()) return false;
      if (may_be_held) Unhold(op.family, key);
      return true;
    }
    // The expiry and the payload go into the batch's bytes as they are.
    char header[kHeader];
    std::memcpy(header, &expires, kHeader);
    batch->writes.Put(family_ids_[static_cast<std::size_t>(op.family)], op.key,
                      std::string_view(header, kHeader), payload);
    if (may_be_held) batch->held_changes.push_back({op.family, &op.key, hash, false, {}});
    batch->RecordValue(op.family, key, kHeader + payload.size());
    batch->all_may_lose = batch->all_may_lose && op.may_lose_on_crash;
    return true;
  };
  auto erase = [&]() -> bool {
    if (batch == nullptr) {
      if (!db_->Delete(write, cf, op.key).ok()) return false;
      if (may_be_held) Unhold(op.family, key);
      return true;
    }
    batch->writes.Delete(family_ids_[static_cast<std::size_t>(op.family)], op.key);
    if (may_be_held) batch->held_changes.push_back({op.family, &op.key, hash, false, {}});
    batch->RecordDelete(op.family, key);
    batch->all_may_lose = batch->all_may_lose && op.may_lose_on_crash;
    return true;
  };
  op.found = false;
  op.result.clear();
  switch (op.type) {
    case Op::Type::get:
      return read_live(op.found, op.result);
    case Op::Type::put:
      return put(op.value);
    case Op::Type::put_if_absent:
      if (!read_live(op.found, op.result)) return false;
      if (op.found) return true;
      return put(op.value);
    case Op::Type::erase: {
      std::string ignored;
      if (!read_live(op.found, ignored)) return false;
      return erase();
    }
    case Op::Type::append: {
      // Nobody reads the new list: written as a merge operand, no read. Not
      // over a write of this batch (that key's value is in the overlay) or
      // a held one.
      if (!op.want_result && !op.may_lose_on_crash && !may_be_held &&
          (batch == nullptr || !batch->Written(op.family, key))) {
        if (filter != nullptr) filter->AddHash(hash, expires);
        if (batch == nullptr) {
          return db_->Merge(write, cf, op.key, EncodeAppend(now, expires, op.keep, op.value)).ok();
        }
        const OperandHeader header = EncodeAppendHeader(now, expires, op.keep);
        batch->writes.Merge(family_ids_[static_cast<std::size_t>(op.family)], op.key,
                            std::string_view(header.data(), header.size()), op.value);
        batch->RecordOperand(op.family, key, header.size() + op.value.size());
        batch->all_may_lose = false;
        return true;
      }
      bool found = false;
      std::string list;
      if (!read_live(found, list)) return false;
      op.result = AppendKeepingNewest(list, op.value, op.keep);
      op.found = found;
      return put(op.result);
    }
    case Op::Type::compare_and_set: {
      bool found = false;
      if (!read_live(found, op.result)) return false;
      const bool match = found ? op.result == op.expected : op.expected.empty();
      if (!match) return true;
      op.found = true;
      return put(op.value);
    }
    case Op::Type::timer_set:
      spdlog::error("state: timer_set belongs to the timer family");
      return false;
  }
  return false;
}

void EmbeddedStore::Execute(std::span<Op> ops, Done done) {
  const std::span<Op> parts[] = {ops};
  ExecuteParts(parts, std::move(done));
}

void EmbeddedStore::ExecuteParts(std::span<const std::span<Op>> parts, Done done) {
  // Released before `done`, which may call Execute again.
  std::shared_lock filters(filters_mu_);
  auto fail = [&](const Op& op) {
    filters.unlock();
    spdlog::error("state: the embedded store failed a {} in family {}; treating the store as "
                  "unavailable",
                  op.type == Op::Type::get ? "read" : "write", ToString(op.family));
    done(StoreStatus::unavailable);
  };
  std::size_t total = 0;
  bool has_timer = false;
  for (const auto part : parts) {
    total += part.size();
    has_timer = has_timer || std::any_of(part.begin(), part.end(), [](const Op& op) {
                  return op.family == Family::timer;
                });
  }
  const std::int64_t now = NowMs(clock_);
  if (total <= 1 || has_timer) {
    for (const auto part : parts) {
      for (Op& op : part) {
        if (!Run(op, KeyFilter::HashOf(op.key), now)) return fail(op);
      }
    }
    filters.unlock();
    MaybeSpillHeld(now);
    done(StoreStatus::ok);
    return;
  }
  // Each op's key hashed once; every stripe the batch writes.
  std::vector<std::uint64_t> hashes;
  hashes.reserve(total);
  std::uint64_t stripes = 0;
  for (const auto part : parts) {
    for (const Op& op : part) {
      hashes.push_back(KeyFilter::HashOf(op.key));
      if (op.type != Op::Type::get) stripes |= StripeBit(hashes.back());
    }
  }
  StripeLocks locks(stripes_, stripes);
  Pending batch(total);
  const Op* first = nullptr;
  std::size_t index = 0;
  for (const auto part : parts) {
    for (Op& op : part) {
      if (first == nullptr) first = &op;
      if (!Run(op, hashes[index++], now, &batch)) {
        locks.Unlock();  // `done` may call Execute again
        return fail(op);
      }
    }
  }
  if (batch.writes.Count() > 0) {
    rocksdb::WriteOptions write;
    write.sync = sync_;
    write.disableWAL = batch.all_may_lose && !sync_;
    rocksdb::WriteBatch writes = batch.writes.Take();
    if (!db_->Write(write, &writes).ok()) {
      locks.Unlock();
      return fail(*first);
    }
  }
  if (!batch.held_changes.empty()) {
    for (auto& change : batch.held_changes) {
      if (change.hold) {
        Hold(change.family, HashedView{*change.key, change.hash}, batch.HeldBytes(change.raw), now);
      } else {
        Unhold(change.family, HashedView{*change.key, change.hash});
      }
    }
  }
  locks.Unlock();
  filters.unlock();
  MaybeSpillHeld(now);
  done(StoreStatus::ok);
}

void EmbeddedStore::MaybeSpillHeld(std::int64_t now) {
  const std::size_t held = held_count_.load(std::memory_order_relaxed);
  std::int64_t next = next_spill_ms_.load(std::memory_order_relaxed);
  if (now < next && held <= max_held_) return;
  // One thread does the upkeep; the others go on.
  const std::int64_t period = hold_ms_ > 0 ? std::min<std::int64_t>(1000, hold_ms_) : 1000;
  if (!next_spill_ms_.compare_exchange_strong(next, now + period)) return;
  for (const auto& filter : filters_) {
    if (filter != nullptr) filter->Maintain(now);
  }
  if (held > 0) SpillHeld(now, /*everything=*/false);
}

void EmbeddedStore::CompactForTests() {
  for (auto* h : families_) db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
}

}  // namespace omnigate::state
