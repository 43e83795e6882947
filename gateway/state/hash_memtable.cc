#include "gateway/state/hash_memtable.h"

#include <rocksdb/memtablerep.h>
#include <rocksdb/slice.h>
#include <rocksdb/version.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <string_view>
#include <vector>

#include "common/hash.h"

namespace omnigate::state {
namespace {

// Where a memtable entry starts: its length-prefixed internal key (user key +
// 8 bytes of sequence number and type), then its length-prefixed value.
using Entry = const char*;

// A bucket chain's link; the entry follows it in the same allocation.
struct Node {
  Node* next;  // read and written through std::atomic_ref
  std::uint64_t hash;
  char* entry() { return reinterpret_cast<char*>(this + 1); }
};
static_assert(sizeof(Node) % alignof(Node) == 0);

std::string_view UserKeyOf(Entry entry) {
  const rocksdb::Slice ikey = rocksdb::GetLengthPrefixedSlice(entry);
  return {ikey.data(), ikey.size() - 8};
}

std::uint64_t Hash(std::string_view user_key) { return Hash64(user_key, ProcessHashSeed()); }

// rocksdb::LookupKey keeps the memtable key's start as its first member
// (hash_memtable.h says why this is read here).
Entry MemtableKeyOf(const rocksdb::LookupKey& k) {
  Entry start = nullptr;
  std::memcpy(&start, &k, sizeof(start));
  return start;
}

using Comparator = rocksdb::MemTableRep::KeyComparator;

// Sorts entries into the memtable's order: user key ascending (bytewise),
// then newest first. Most comparisons are of the 8 bytes after the keys'
// common prefix, held in the array being sorted; the comparator, which
// follows two pointers, settles ties only.
void SortEntries(std::vector<Entry>& entries, const Comparator& cmp) {
  if (entries.size() < 2) return;
  std::string_view first = UserKeyOf(entries[0]);
  std::size_t common = first.size();
  for (const Entry e : entries) {
    const std::string_view k = UserKeyOf(e);
    const std::size_t n = std::min(common, k.size());
    std::size_t i = 0;
    while (i < n && first[i] == k[i]) ++i;
    common = i;
  }
  struct Keyed {
    std::uint64_t prefix;  // big-endian, zero-padded: its order is the keys' order or a tie
    Entry entry;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(entries.size());
  for (const Entry e : entries) {
    const std::string_view k = UserKeyOf(e);
    std::uint64_t prefix = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      const std::size_t at = common + i;
      prefix = (prefix << 8) | (at < k.size() ? static_cast<unsigned char>(k[at]) : 0U);
    }
    keyed.push_back({prefix, e});
  }
  std::sort(keyed.begin(), keyed.end(), [&](const Keyed& a, const Keyed& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return cmp(a.entry, b.entry) < 0;
  });
  for (std::size_t i = 0; i < keyed.size(); ++i) entries[i] = keyed[i].entry;
  assert(std::is_sorted(entries.begin(), entries.end(),
                        [&](Entry a, Entry b) { return cmp(a, b) < 0; }));
}

using Sorted = std::shared_ptr<const std::vector<Entry>>;

// An iterator over a sorted snapshot of the memtable.
class SortedIterator final : public rocksdb::MemTableRep::Iterator {
 public:
  SortedIterator(Sorted entries, const Comparator& cmp)
      : entries_(std::move(entries)), cmp_(cmp), pos_(entries_->size()) {}

  bool Valid() const override { return pos_ < entries_->size(); }
  const char* key() const override { return (*entries_)[pos_]; }
  void Next() override { ++pos_; }
  void Prev() override { pos_ = pos_ == 0 ? entries_->size() : pos_ - 1; }
  void Seek(const rocksdb::Slice& internal_key, const char* memtable_key) override {
    pos_ = static_cast<std::size_t>(LowerBound(internal_key, memtable_key) - entries_->begin());
  }
  void SeekForPrev(const rocksdb::Slice& internal_key, const char* memtable_key) override {
    // The last entry at or before the target.
    const auto it = std::upper_bound(entries_->begin(), entries_->end(), 0, [&](int, Entry e) {
      return Compare(e, internal_key, memtable_key) > 0;
    });
    pos_ = it == entries_->begin() ? entries_->size()
                                   : static_cast<std::size_t>(it - entries_->begin()) - 1;
  }
  void SeekToFirst() override { pos_ = 0; }
  void SeekToLast() override { pos_ = entries_->empty() ? 0 : entries_->size() - 1; }

 private:
  int Compare(Entry e, const rocksdb::Slice& internal_key, const char* memtable_key) const {
    return memtable_key != nullptr ? cmp_(e, memtable_key) : cmp_(e, internal_key);
  }
  std::vector<Entry>::const_iterator LowerBound(const rocksdb::Slice& internal_key,
                                                const char* memtable_key) const {
    return std::lower_bound(entries_->begin(), entries_->end(), 0, [&](Entry e, int) {
      return Compare(e, internal_key, memtable_key) < 0;
    });
  }

  Sorted entries_;
  const Comparator& cmp_;
  std::size_t pos_;
};

class HashMemTable final : public rocksdb::MemTableRep {
 public:
  HashMemTable(const Comparator& cmp, rocksdb::Allocator* allocator, std::size_t buckets)
      : MemTableRep(allocator),
        cmp_(cmp),
        mask_(buckets - 1),
        // calloc: zero pages come from the OS untouched until a bucket is used.
        buckets_(static_cast<Node**>(std::calloc(buckets, sizeof(Node*)))) {
    if (buckets_ == nullptr) throw std::bad_alloc();
  }
  ~HashMemTable() override { std::free(buckets_); }
  HashMemTable(const HashMemTable&) = delete;
  HashMemTable& operator=(const HashMemTable&) = delete;

  rocksdb::KeyHandle Allocate(const std::size_t len, char** buf) override {
    char* raw = nullptr;
    // RocksDB's arena hands out unaligned bytes for keys: room to align.
    MemTableRep::Allocate(sizeof(Node) + alignof(Node) - 1 + len, &raw);
    auto at = reinterpret_cast<std::uintptr_t>(raw);
    at = (at + alignof(Node) - 1) & ~(std::uintptr_t{alignof(Node)} - 1);
    Node* node = new (reinterpret_cast<void*>(at)) Node{nullptr, 0};
    *buf = node->entry();
    return node;
  }

  void Insert(rocksdb::KeyHandle handle) override {
    Node* node = static_cast<Node*>(handle);
    node->hash = Hash(UserKeyOf(node->entry()));
    std::atomic_ref<Node*> head(buckets_[node->hash & mask_]);
    node->next = head.load(std::memory_order_relaxed);
    // Release: a reader that finds the node sees its entry's bytes.
    head.store(node, std::memory_order_release);
    std::lock_guard lock(mu_);
    all_.push_back(node->entry());
    all_bytes_.store(all_.capacity() * sizeof(Entry), std::memory_order_relaxed);
  }

  bool Contains(const char* key) const override {
    const std::string_view user = UserKeyOf(key);
    const std::uint64_t h = Hash(user);
    for (Node* n = Head(h); n != nullptr; n = Next(n)) {
      if (n->hash == h && cmp_(n->entry(), key) == 0) return true;
    }
    return false;
  }

  void Get(const rocksdb::LookupKey& k, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override {
    const Entry target = MemtableKeyOf(k);
    const std::string_view user = UserKeyOf(target);
    const std::uint64_t h = Hash(user);
    // The key's versions, in the memtable's order (newest first), from the
    // first one the lookup's snapshot may see.
    Entry versions[8];
    std::vector<Entry> more;
    std::size_t n = 0;
    for (Node* node = Head(h); node != nullptr; node = Next(node)) {
      if (node->hash != h || UserKeyOf(node->entry()) != user) continue;
      if (n < std::size(versions)) {
        versions[n++] = node->entry();
      } else {
        if (more.empty()) more.assign(versions, versions + n);
        more.push_back(node->entry());
      }
    }
    Entry* begin = more.empty() ? versions : more.data();
    Entry* end = more.empty() ? versions + n : more.data() + more.size();
    if (end - begin > 1) std::sort(begin, end, [&](Entry a, Entry b) { return cmp_(a, b) < 0; });
    for (Entry* e = begin; e != end; ++e) {
      if (cmp_(*e, target) < 0) continue;  // newer than the snapshot
      if (!callback_func(callback_args, *e)) return;
    }
  }

  // What the memtable holds besides its arena. RocksDB requires it not to
  // grow once the memtable is read-only, so the sorted copy made for the
  // flush (as large as `all_`, and freed with the memtable) is not in it.
  // Asked after every insert: no lock.
  std::size_t ApproximateMemoryUsage() override {
    return (mask_ + 1) * sizeof(Node*) + all_bytes_.load(std::memory_order_relaxed);
  }

  Iterator* GetIterator(rocksdb::Arena* arena) override {
    Sorted sorted = SortedSnapshot();
    if (arena == nullptr) return new SortedIterator(std::move(sorted), cmp_);
    // RocksDB destroys an arena iterator in place and frees its arena
    // later; the arena's class is not public, so the memtable keeps the
    // bytes (a flush takes one iterator).
    std::lock_guard lock(mu_);
    auto& space = iterator_space_.emplace_back(
        std::make_unique<std::byte[]>(sizeof(SortedIterator) + alignof(SortedIterator)));
    void* at = space.get();
    std::size_t room = sizeof(SortedIterator) + alignof(SortedIterator);
    at = std::align(alignof(SortedIterator), sizeof(SortedIterator), at, room);
    return new (at) SortedIterator(std::move(sorted), cmp_);
  }

 private:
  Node* Head(std::uint64_t h) const {
    return std::atomic_ref<Node*>(buckets_[h & mask_]).load(std::memory_order_acquire);
  }
  static Node* Next(Node* n) {
    // Written before the node was published and never again.
    return n->next;
  }

  Sorted SortedSnapshot() {
    std::vector<Entry> copy;
    {
      std::lock_guard lock(mu_);
      if (sorted_ && sorted_->size() == all_.size()) return sorted_;
      copy = all_;
    }
    SortEntries(copy, cmp_);
    auto sorted = std::make_shared<const std::vector<Entry>>(std::move(copy));
    std::lock_guard lock(mu_);
    if (!sorted_ || sorted_->size() < sorted->size()) sorted_ = sorted;
    return sorted;
  }

  const Comparator& cmp_;
  const std::size_t mask_;
  Node** const buckets_;
  std::mutex mu_;
  std::vector<Entry> all_;  // in insertion order, for the sort at flush
  std::atomic<std::size_t> all_bytes_{0};  // all_'s capacity in bytes
  Sorted sorted_;           // the last sort, reused while nothing was added
  std::vector<std::unique_ptr<std::byte[]>> iterator_space_;
};

class HashMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  explicit HashMemTableFactory(std::size_t buckets)
      : buckets_(std::bit_ceil(std::max<std::size_t>(buckets, 16))) {}

  using MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& cmp,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* /*prefix*/,
                                          rocksdb::Logger* /*logger*/) override {
    return new HashMemTable(cmp, allocator, buckets_);
  }
  const char* Name() const override { return "omnigate.HashMemTable"; }

 private:
  std::size_t buckets_;
};

}  // namespace

std::shared_ptr<rocksdb::MemTableRepFactory> NewHashMemTableFactory(std::size_t buckets) {
  return std::make_shared<HashMemTableFactory>(buckets);
}

bool HashMemTableSupported() {
  // rocksdb::LookupKey's layout, checked in RocksDB 6.x to 11.x.
  return ROCKSDB_MAJOR >= 6 && ROCKSDB_MAJOR <= 11;
}

}  // namespace omnigate::state
