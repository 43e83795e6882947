#include "queue/offset_tracker.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace omnigate::queue {

bool PartitionOffsetTracker::Track(std::int64_t offset) {
  if (offset < 0 || offset <= last_tracked_) return false;
  window_.push_back({offset, false});
  last_tracked_ = offset;
  ++pending_;
  return true;
}

bool PartitionOffsetTracker::MarkDone(std::int64_t offset) {
  auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                             [](const Entry& e, std::int64_t o) { return e.offset < o; });
  if (it == window_.end() || it->offset != offset || it->done) return false;
  it->done = true;
  changed_ = true;
  --pending_;
  // The common case (in-order completion) pops exactly the entry just marked.
  while (!window_.empty() && window_.front().done) {
    committable_ = window_.front().offset + 1;
    window_.pop_front();
  }
  return true;
}

std::optional<PartitionOffsetTracker::Commit> PartitionOffsetTracker::TakeCommitWithDone(
    std::size_t max_metadata_bytes, bool force) {
  if (!changed_ && !force) return std::nullopt;
  changed_ = false;
  Commit c;
  // Everything below the window's first entry is done (or was never read in
  // this assignment, i.e. below the position it started from).
  c.offset = window_.empty() ? committable_ : window_.front().offset;
  if (c.offset < 0) return std::nullopt;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  for (const Entry& e : window_) {
    if (!e.done) continue;
    if (!ranges.empty() && ranges.back().second == e.offset) {
      ranges.back().second = e.offset + 1;
    } else {
      ranges.emplace_back(e.offset, e.offset + 1);
    }
  }
  if (!ranges.empty()) c.metadata = EncodeDoneRanges(c.offset, ranges, max_metadata_bytes);
  return c;
}

namespace {
constexpr std::string_view kDoneMagic = "og1:";
}  // namespace

std::string EncodeDoneRanges(std::int64_t base,
                             const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges,
                             std::size_t max_bytes) {
  std::string out(kDoneMagic);
  out += std::to_string(base);
  out += ':';
  const std::size_t header = out.size();
  std::int64_t end = base;
  std::string item;
  for (const auto& [first, last] : ranges) {
    if (first < end || last <= first) continue;  // not above base or not increasing: skip
    item.clear();
    if (out.size() > header) item += ',';
    item += std::to_string(first - end);
    item += '+';
    item += std::to_string(last - first);
    if (out.size() + item.size() > max_bytes) break;
    out += item;
    end = last;
  }
  if (out.size() == header) return {};
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> DecodeDoneRanges(std::string_view metadata,
                                                                    std::int64_t committed_offset) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (metadata.substr(0, kDoneMagic.size()) != kDoneMagic) return out;
  metadata.remove_prefix(kDoneMagic.size());
  auto number = [&](std::int64_t& v) {
    const auto r = std::from_chars(metadata.data(), metadata.data() + metadata.size(), v);
    if (r.ec != std::errc() || v < 0) return false;
    metadata.remove_prefix(static_cast<std::size_t>(r.ptr - metadata.data()));
    return true;
  };
  std::int64_t base = 0;
  if (!number(base) || base != committed_offset || metadata.empty() || metadata[0] != ':') {
    return out;
  }
  metadata.remove_prefix(1);
  std::int64_t end = base;
  while (!metadata.empty()) {
    std::int64_t gap = 0;
    std::int64_t len = 0;
    if (!number(gap) || metadata.empty() || metadata[0] != '+') return {};
    metadata.remove_prefix(1);
    if (!number(len) || len == 0) return {};
    constexpr std::int64_t kMax = std::int64_t{1} << 52;  // far beyond any partition's offsets
    if (gap > kMax || len > kMax || end > kMax) return {};
    const std::int64_t first = end + gap;
    out.emplace_back(first, first + len);
    end = first + len;
    if (!metadata.empty()) {
      if (metadata[0] != ',') return {};
      metadata.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace omnigate::queue
