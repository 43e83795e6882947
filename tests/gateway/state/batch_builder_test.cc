// BatchBuilder writes RocksDB's write-batch bytes itself: here against the
// installed RocksDB's own WriteBatch, byte for byte, and through a real DB.
#include "gateway/state/batch_builder.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/wait.h"

namespace omnigate::state {
namespace {

// Concatenates a merge's operands with '+' (a stand-in for the store's own
// operator: the test checks the record reaches it whole).
class JoinOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* out, rocksdb::Logger*) const override {
    *out = existing != nullptr ? existing->ToString() + "+" + value.ToString() : value.ToString();
    return true;
  }
  const char* Name() const override { return "JoinOperator"; }
};

class BatchBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    rocksdb::ColumnFamilyOptions cf;
    cf.merge_operator = std::make_shared<JoinOperator>();
    std::vector<rocksdb::ColumnFamilyDescriptor> families{
        {rocksdb::kDefaultColumnFamilyName, cf}, {"one", cf}, {"two", cf}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    const auto s = rocksdb::DB::Open(options, dir_.path(), families, &handles, &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    handles_ = handles;
  }
  void TearDown() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_.reset();
  }

  testing::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// Keys and values across the varint length boundaries (127/128 and
// 16383/16384 bytes), empty ones, and every family kind (the default one
// has its own record types).
TEST_F(BatchBuilderTest, WritesTheBytesRocksDbsWriteBatchDoes) {
  const std::vector<std::size_t> sizes = {0, 1, 8, 119, 120, 127, 128, 300, 16375, 16376, 16384, 20000};
  BatchBuilder ours(64);
  rocksdb::WriteBatch theirs;
  int n = 0;
  for (auto* family : handles_) {
    for (const std::size_t size : sizes) {
      const std::string key = "k" + std::to_string(n) + std::string(size, 'x');
      const std::string head(8, static_cast<char>(n));
      const std::string tail(size, 'v');
      const rocksdb::Slice value_parts[] = {head, tail};
      const rocksdb::Slice key_part(key);
      switch (n++ % 3) {
        case 0:
          ours.Put(family->GetID(), key, head, tail);
          ASSERT_TRUE(theirs.Put(family, rocksdb::SliceParts(&key_part, 1),
                                 rocksdb::SliceParts(value_parts, 2)).ok());
          break;
        case 1:
          ours.Merge(family->GetID(), key, head, tail);
          ASSERT_TRUE(theirs.Merge(family, rocksdb::SliceParts(&key_part, 1),
                                   rocksdb::SliceParts(value_parts, 2)).ok());
          break;
        default:
          ours.Delete(family->GetID(), key);
          ASSERT_TRUE(theirs.Delete(family, key).ok());
          break;
      }
      ASSERT_EQ(ours.Count(), theirs.Count());
    }
  }
  // Before Take(): everything but the count in the header.
  EXPECT_EQ(ours.Data().substr(12), theirs.Data().substr(12));
  rocksdb::WriteBatch taken = ours.Take();
  EXPECT_EQ(taken.Data(), theirs.Data());
  EXPECT_EQ(taken.Count(), theirs.Count());
  EXPECT_EQ(ours.Count(), 0u);
  EXPECT_EQ(ours.Data().size(), 12u) << "empty again: a header only";
}

// A built batch goes through DB::Write like RocksDB's own: values, merge
// operands and deletions land in their families.
TEST_F(BatchBuilderTest, ABuiltBatchIsWrittenAndReadBack) {
  auto* one = handles_[1];
  auto* two = handles_[2];
  ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), two, "gone", "soon").ok());
  BatchBuilder b(16);
  b.Put(one->GetID(), "a", "head|", "tail");
  b.Merge(two->GetID(), "list", "", "1");
  b.Merge(two->GetID(), "list", "", "2");
  b.Delete(two->GetID(), "gone");
  b.Put(0, "plain", "", "default family");
  // The newest record ends with its value: its last bytes are the value's.
  EXPECT_TRUE(b.Data().ends_with("default family"));
  rocksdb::WriteBatch batch = b.Take();
  ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  std::string v;
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), one, "a", &v).ok());
  EXPECT_EQ(v, "head|tail");
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), two, "list", &v).ok());
  EXPECT_EQ(v, "1+2");
  EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), two, "gone", &v).IsNotFound());
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), "plain", &v).ok());
  EXPECT_EQ(v, "default family");
  // The builder starts over after Take().
  b.Put(one->GetID(), "b", "", "again");
  rocksdb::WriteBatch second = b.Take();
  EXPECT_EQ(second.Count(), 1u);
  ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &second).ok());
  ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), one, "b", &v).ok());
  EXPECT_EQ(v, "again");
}

}  // namespace
}  // namespace omnigate::state
