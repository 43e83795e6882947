#include "gateway/state/batch_builder.h"

#include <cstring>

namespace omnigate::state {
namespace {

// RocksDB's value types (db/dbformat.h), as the WAL stores them.
constexpr char kTypeDeletion = 0x0;
constexpr char kTypeValue = 0x1;
constexpr char kTypeMerge = 0x2;
constexpr char kTypeColumnFamilyDeletion = 0x4;
constexpr char kTypeColumnFamilyValue = 0x5;
constexpr char kTypeColumnFamilyMerge = 0x6;

// sequence (8) + count (4).
constexpr std::size_t kBatchHeader = 12;

std::size_t VarintSize(std::uint32_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarint(char* at, std::uint32_t v) {
  while (v >= 0x80) {
    *at++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *at++ = static_cast<char>(v);
  return at;
}

char* PutBytes(char* at, std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
  return at + bytes.size();
}

}  // namespace

BatchBuilder::BatchBuilder(std::size_t reserve) {
  rep_.reserve(kBatchHeader + reserve);
  rep_.resize(kBatchHeader);
}

void BatchBuilder::Record(char type, char default_type, std::uint32_t family_id,
                          std::string_view key, const std::string_view* head,
                          std::string_view tail) {
  const auto key_size = static_cast<std::uint32_t>(key.size());
  std::size_t size = 1 + (family_id != 0 ? VarintSize(family_id) : 0) + VarintSize(key_size) +
                     key.size();
  std::uint32_t value_size = 0;
  if (head != nullptr) {
    value_size = static_cast<std::uint32_t>(head->size() + tail.size());
    size += VarintSize(value_size) + value_size;
  }
  const std::size_t start = rep_.size();
  if (rep_.capacity() < start + size) rep_.reserve(2 * (start + size));
  rep_.resize(start + size);
  char* at = rep_.data() + start;
  if (family_id != 0) {
    *at++ = type;
    at = PutVarint(at, family_id);
  } else {
    *at++ = default_type;
  }
  at = PutVarint(at, key_size);
  at = PutBytes(at, key);
  if (head != nullptr) {
    at = PutVarint(at, value_size);
    at = PutBytes(at, *head);
    PutBytes(at, tail);
  }
  ++count_;
}

void BatchBuilder::Put(std::uint32_t family_id, std::string_view key, std::string_view head,
                       std::string_view tail) {
  Record(kTypeColumnFamilyValue, kTypeValue, family_id, key, &head, tail);
}

void BatchBuilder::Merge(std::uint32_t family_id, std::string_view key, std::string_view head,
                         std::string_view tail) {
  Record(kTypeColumnFamilyMerge, kTypeMerge, family_id, key, &head, tail);
}

void BatchBuilder::Delete(std::uint32_t family_id, std::string_view key) {
  Record(kTypeColumnFamilyDeletion, kTypeDeletion, family_id, key, nullptr, {});
}

rocksdb::WriteBatch BatchBuilder::Take() {
  // The count, little-endian (RocksDB's EncodeFixed32); the sequence stays
  // 0 for the DB to assign.
  for (std::size_t i = 0; i < 4; ++i) {
    rep_[8 + i] = static_cast<char>((count_ >> (8 * i)) & 0xff);
  }
  rocksdb::WriteBatch batch(std::move(rep_));
  rep_.assign(kBatchHeader, '\0');
  count_ = 0;
  return batch;
}

}  // namespace omnigate::state
