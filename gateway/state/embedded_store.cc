#include "gateway/state/embedded_store.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <vector>

namespace omnigate::state {
namespace {

using std::chrono::milliseconds;

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

}  // namespace

Result<std::unique_ptr<EmbeddedStore>, std::string> EmbeddedStore::Open(
    const EmbeddedStoreOptions& options, const Clock& clock) {
  std::unique_ptr<EmbeddedStore> self(new EmbeddedStore(clock, options.sync_writes));
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.compaction_filter = &Filter();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    descriptors.emplace_back(std::string(ToString(static_cast<Family>(i))), cf_options);
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
  for (std::size_t i = 0; i < kFamilyCount; ++i) self->families_[i] = handles[i + 1];
  return self;
}

EmbeddedStore::EmbeddedStore(const Clock& clock, bool sync) : clock_(clock), sync_(sync) {}

EmbeddedStore::~EmbeddedStore() {
  if (!db_) return;
  for (auto* h : families_) db_->DestroyColumnFamilyHandle(h);
  db_->DestroyColumnFamilyHandle(default_family_);
  db_->Close();
}

std::mutex& EmbeddedStore::Stripe(const std::string& key) {
  return stripes_[std::hash<std::string>{}(key) % stripes_.size()];
}

bool EmbeddedStore::Run(Op& op) {
  auto* cf = families_[static_cast<std::size_t>(op.family)];
  const std::int64_t now = NowMs(clock_);
  rocksdb::WriteOptions write;
  write.sync = sync_;
  auto read_live = [&](bool& found, std::string& out) -> bool {
    std::string raw;
    const auto s = db_->Get(rocksdb::ReadOptions(), cf, op.key, &raw);
    found = false;
    if (s.IsNotFound()) return true;
    if (!s.ok()) return false;
    std::int64_t expires = 0;
    std::string_view payload;
    if (Decode(raw, expires, payload) && Live(expires, now)) {
      found = true;
      out.assign(payload);
    }
    return true;
  };
  const std::int64_t expires = op.ttl.count() > 0 ? now + op.ttl.count() : 0;
  op.found = false;
  op.result.clear();
  switch (op.type) {
    case Op::Type::get:
      return read_live(op.found, op.result);
    case Op::Type::put: {
      // Under the key's stripe, so that it never lands between the read and
      // the write of another thread's put_if_absent or append.
      std::lock_guard lock(Stripe(op.key));
      return db_->Put(write, cf, op.key, Encode(expires, op.value)).ok();
    }
    case Op::Type::put_if_absent: {
      std::lock_guard lock(Stripe(op.key));
      if (!read_live(op.found, op.result)) return false;
      if (op.found) return true;
      return db_->Put(write, cf, op.key, Encode(expires, op.value)).ok();
    }
    case Op::Type::erase: {
      std::lock_guard lock(Stripe(op.key));
      std::string ignored;
      if (!read_live(op.found, ignored)) return false;
      return db_->Delete(write, cf, op.key).ok();
    }
    case Op::Type::append: {
      std::lock_guard lock(Stripe(op.key));
      bool found = false;
      std::string list;
      if (!read_live(found, list)) return false;
      op.result = AppendKeepingNewest(list, op.value, op.keep);
      op.found = found;
      return db_->Put(write, cf, op.key, Encode(expires, op.result)).ok();
    }
  }
  return false;
}

void EmbeddedStore::Execute(std::span<Op> ops, Done done) {
  for (Op& op : ops) {
    if (!Run(op)) {
      spdlog::error("state: the embedded store failed a {} in family {}; treating the store as "
                    "unavailable",
                    op.type == Op::Type::get ? "read" : "write", ToString(op.family));
      done(StoreStatus::unavailable);
      return;
    }
  }
  done(StoreStatus::ok);
}

void EmbeddedStore::CompactForTests() {
  for (auto* h : families_) db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
}

}  // namespace omnigate::state
