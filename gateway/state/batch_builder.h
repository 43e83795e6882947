#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <rocksdb/write_batch.h>

namespace omnigate::state {

// Writes the bytes of a rocksdb::WriteBatch itself: the write-ahead log's
// record format, which RocksDB keeps readable across versions (every WAL
// written before must replay) and takes back whole through the public
// WriteBatch(std::string&&) constructor. A worker's batch holds a few
// writes per request; WriteBatch::Put/Merge checked sizes, save points and
// timestamps and appended six times per record, a third of what RocksDB
// cost per send. Here a record is one size computation and one write.
//
//   batch  := sequence (fixed64, 0 here) count (fixed32) record*
//   record := kTypeColumnFamilyValue cf key value
//           | kTypeColumnFamilyMerge cf key operand
//           | kTypeColumnFamilyDeletion cf key
//             (the default family, id 0, has types without the cf)
//   cf := varint32, key/value/operand := varint32 length + bytes
//
// batch_builder_test compares every byte with what WriteBatch writes.
class BatchBuilder {
 public:
  // `reserve`: the bytes the batch is expected to take.
  explicit BatchBuilder(std::size_t reserve);

  // A value (or merge operand) is written as two parts, `head` then `tail`
  // (the store's expiry header, then the payload).
  void Put(std::uint32_t family_id, std::string_view key, std::string_view head,
           std::string_view tail);
  void Merge(std::uint32_t family_id, std::string_view key, std::string_view head,
             std::string_view tail);
  void Delete(std::uint32_t family_id, std::string_view key);

  std::uint32_t Count() const { return count_; }
  // The batch's bytes so far: a record ends with its value, so the last n
  // bytes are the newest record's last n value bytes.
  const std::string& Data() const { return rep_; }
  // The batch, its bytes moved into it; the builder is empty after.
  rocksdb::WriteBatch Take();

 private:
  void Record(char type, char default_type, std::uint32_t family_id, std::string_view key,
              const std::string_view* head, std::string_view tail);

  std::string rep_;
  std::uint32_t count_ = 0;
};

}  // namespace omnigate::state
