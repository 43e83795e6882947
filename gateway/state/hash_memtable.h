#pragma once

#include <cstddef>
#include <memory>

namespace rocksdb {
class MemTableRepFactory;
}  // namespace rocksdb

namespace omnigate::state {

// A RocksDB memtable for column families that are only ever read by key
// (every family but the timers'). RocksDB's default memtable is a skip list:
// each write searches it for its place, a cache miss per level on random
// keys, and that search was the largest single item of the delivery policy's
// CPU (bench/README.md, "The delivery policy's cost"). This one is a hash
// table with a chain per bucket: a write links its entry in front of its
// bucket's chain, a read walks one short chain. The order an SST needs is made
// once, when the memtable is flushed, by sorting its entries on an 8-byte key
// prefix (the bytes after the keys' common prefix) with the full comparison
// for ties only: one pass over a contiguous array instead of a skip-list
// search per write.
//
// Limits, which the embedded store's options respect:
//  - the user comparator must be RocksDB's bytewise one (the prefix sort
//    relies on it);
//  - one writer at a time (DBOptions::allow_concurrent_memtable_write off);
//    reads run concurrently with it;
//  - an iterator over a memtable that is still written sorts a copy of it;
//    meant for flushes and tests, not for scans on the hot path;
//  - it reads the memtable key out of rocksdb::LookupKey, whose class is not
//    in RocksDB's public headers: its layout (three pointers, the first the
//    memtable key) has been the same from LevelDB to RocksDB 9, and the
//    build uses this memtable only with the RocksDB versions it was checked
//    against (HashMemTableSupported()).
//
// `buckets` is rounded up to a power of two. The bucket array is allocated
// zeroed by the OS, so a family that is hardly written costs no memory.
std::shared_ptr<rocksdb::MemTableRepFactory> NewHashMemTableFactory(std::size_t buckets);

// False when the RocksDB this was built against is one this memtable was not
// checked against; the embedded store then keeps RocksDB's skip list.
bool HashMemTableSupported();

}  // namespace omnigate::state
