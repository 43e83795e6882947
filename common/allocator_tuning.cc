// mimalloc's settings for Omnigate's executables. CMakeLists.txt compiles
// this file into every executable that links omnigate_allocator with
// mimalloc; its initializer runs before main().
//
// mimalloc hands a freed page back to the OS (madvise) 25 ms after it was
// freed, and the next allocation there page-faults it in again. The gateway
// frees and reuses memory in waves longer than that: a request's buffers
// live as long as its provider call, the state store's memtable arenas are
// freed by each flush and allocated again by the next inserts. In
// policy-embedded, madvise and the faults it caused were about 1.7 µs of
// CPU per send of the workers' system time, 1.1 µs in max-sms (bench/README.md
// "12-04"). Memory unused for 2 s still goes back to the OS, so an idle
// gateway's RSS shrinks as before.
//
// An operator's own MIMALLOC_* variable wins (docs/operations.md).

#include <mimalloc.h>

#include <cstdlib>

namespace {

constexpr long kDecommitDelayMs = 2000;

void SetUnlessGiven(mi_option_t option, const char* variable, long value) {
  if (std::getenv(variable) == nullptr) mi_option_set(option, value);
}

[[maybe_unused]] const bool kTuned = [] {
  SetUnlessGiven(mi_option_decommit_delay, "MIMALLOC_DECOMMIT_DELAY", kDecommitDelayMs);
  SetUnlessGiven(mi_option_segment_decommit_delay, "MIMALLOC_SEGMENT_DECOMMIT_DELAY",
                 kDecommitDelayMs);
  return true;
}();

}  // namespace
