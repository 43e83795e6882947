// The embedded store's hash memtable (gateway/state/hash_memtable.h), driven
// through RocksDB itself: point reads at snapshots, iteration in every
// direction, flushes (its sort) and a reopen, against a plain std::map, and
// reads running beside the writer.
#include "gateway/state/hash_memtable.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/wait.h"

namespace omnigate::state {
namespace {

using Model = std::map<std::string, std::string>;

class HashMemTableTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(HashMemTableSupported()); }
  void TearDown() override { Close(); }

  void Open() {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.allow_concurrent_memtable_write = false;
    // Few buckets: long chains, several keys per bucket.
    options.memtable_factory = NewHashMemTableFactory(16);
    // Small memtables: many flushes, so many sorts, within one test.
    options.write_buffer_size = 64 << 10;
    rocksdb::DB* db = nullptr;
    const auto s = rocksdb::DB::Open(options, dir_.File("db"), &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  void Close() {
    if (db_) {
      ASSERT_TRUE(db_->Close().ok());
    }
    db_.reset();
  }

  std::optional<std::string> Get(const std::string& key,
                                 const rocksdb::Snapshot* snapshot = nullptr) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    std::string value;
    const auto s = db_->Get(ro, key, &value);
    EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
    if (!s.ok()) return std::nullopt;
    return value;
  }

  // Every key and value, by a point read and by iterating both ways, equals
  // the model.
  void ExpectEquals(const Model& model, const rocksdb::Snapshot* snapshot = nullptr) {
    for (const auto& [k, v] : model) {
      EXPECT_EQ(Get(k, snapshot), v) << "key " << k;
    }
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    auto m = model.begin();
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++m) {
      ASSERT_NE(m, model.end()) << "extra key " << it->key().ToString();
      EXPECT_EQ(it->key().ToString(), m->first);
      EXPECT_EQ(it->value().ToString(), m->second);
    }
    EXPECT_EQ(m, model.end());
    ASSERT_TRUE(it->status().ok()) << it->status().ToString();
    auto r = model.rbegin();
    for (it->SeekToLast(); it->Valid(); it->Prev(), ++r) {
      ASSERT_NE(r, model.rend());
      EXPECT_EQ(it->key().ToString(), r->first);
    }
    EXPECT_EQ(r, model.rend());
  }

  testing::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Keys that share a long prefix, differ in length, hold 0x00 and 0xff bytes,
// and are prefixes of one another: the cases the flush's prefix sort must
// order as RocksDB's bytewise comparator does.
std::string RandomKey(std::mt19937_64& rng) {
  std::string key = "tenant|{+4079";
  const std::size_t extra = rng() % 12;
  static constexpr char kBytes[] = {'\0', '\x01', '0', '5', '9', 'a', '|', '\x7f', '\x80', '\xff'};
  for (std::size_t i = 0; i < extra; ++i) key += kBytes[rng() % sizeof(kBytes)];
  return key;
}

TEST_F(HashMemTableTest, ReadsAndIterationMatchAMapThroughFlushesSnapshotsAndAReopen) {
  Open();
  std::mt19937_64 rng(20261203);
  Model model;
  std::vector<std::pair<const rocksdb::Snapshot*, Model>> snapshots;
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = RandomKey(rng);
    if (rng() % 5 == 0) {
      ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(), key).ok());
      model.erase(key);
    } else {
      const std::string value = "v" + std::to_string(i) + std::string(rng() % 40, 'x');
      ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), key, value).ok());
      model[key] = value;
    }
    if (i % 4'000 == 1'999) snapshots.emplace_back(db_->GetSnapshot(), model);
  }
  // Seek and SeekForPrev land where the map's bounds do.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (int i = 0; i < 200; ++i) {
    const std::string target = RandomKey(rng);
    it->Seek(target);
    const auto lower = model.lower_bound(target);
    ASSERT_EQ(it->Valid(), lower != model.end()) << target;
    if (it->Valid()) {
      EXPECT_EQ(it->key().ToString(), lower->first);
    }
    it->SeekForPrev(target);
    auto upper = model.upper_bound(target);
    ASSERT_EQ(it->Valid(), upper != model.begin()) << target;
    if (it->Valid()) {
      EXPECT_EQ(it->key().ToString(), (--upper)->first);
    }
  }
  it.reset();
  ExpectEquals(model);
  for (const auto& [snapshot, then] : snapshots) {
    ExpectEquals(then, snapshot);
    db_->ReleaseSnapshot(snapshot);
  }
  // The last memtable goes to an SST through the sort too, and the WAL's
  // replay fills a fresh memtable on reopen.
  ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), "tenant|in-the-wal", "w").ok());
  model["tenant|in-the-wal"] = "w";
  Close();
  Open();
  ExpectEquals(model);
  ASSERT_TRUE(db_->Flush(rocksdb::FlushOptions()).ok());
  ExpectEquals(model);
}

TEST_F(HashMemTableTest, ReadsRunBesideTheWriter) {
  Open();
  constexpr int kKeys = 64;
  constexpr int kRounds = 300;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      std::vector<int> last(kKeys, -1);
      while (!done.load()) {
        for (int k = 0; k < kKeys; ++k) {
          std::string value;
          const auto s = db_->Get(rocksdb::ReadOptions(), "key-" + std::to_string(k), &value);
          if (s.IsNotFound()) continue;
          // A key's round only ever grows, whichever memtable or file holds it.
          const int round = s.ok() ? std::stoi(value) : -2;
          if (round < last[static_cast<std::size_t>(k)]) bad.fetch_add(1);
          last[static_cast<std::size_t>(k)] = round;
        }
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), "key-" + std::to_string(k),
                           std::to_string(round) + std::string(200, 'p'))
                      .ok());
    }
  }
  done.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(Get("key-" + std::to_string(k)).value_or("").substr(0, 3),
              std::to_string(kRounds - 1));
  }
}

}  // namespace
}  // namespace omnigate::state
