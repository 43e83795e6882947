// The allocator settings of common/allocator_tuning.cc, as an executable that
// links omnigate_allocator sees them (built with OMNIGATE_ALLOCATOR=mimalloc).

#include <gtest/gtest.h>
#include <mimalloc.h>

#include <cstdlib>
#include <string>

#include "tests/support/process.h"

namespace {

TEST(AllocatorTuning, FreedMemoryStaysCommittedForTwoSeconds) {
  if (std::getenv("MIMALLOC_DECOMMIT_DELAY") != nullptr ||
      std::getenv("MIMALLOC_SEGMENT_DECOMMIT_DELAY") != nullptr) {
    GTEST_SKIP() << "MIMALLOC_*DECOMMIT_DELAY is set in this environment";
  }
  EXPECT_EQ(mi_option_get(mi_option_decommit_delay), 2000);
  EXPECT_EQ(mi_option_get(mi_option_segment_decommit_delay), 2000);
}

// Run by the test below in a child process that has the variables set.
TEST(AllocatorTuning, ChildSeesTheOperatorsValue) {
  if (std::getenv("OMNIGATE_ALLOCATOR_PROBE") == nullptr) GTEST_SKIP() << "run by the next test";
  EXPECT_EQ(mi_option_get(mi_option_decommit_delay), 7);
  EXPECT_EQ(mi_option_get(mi_option_segment_decommit_delay), 9);
}

TEST(AllocatorTuning, AnOperatorsVariableWins) {
  omnigate::testing::ChildProcess child(
      {"/proc/self/exe", "--gtest_filter=AllocatorTuning.ChildSeesTheOperatorsValue"}, {},
      {"OMNIGATE_ALLOCATOR_PROBE=1", "MIMALLOC_DECOMMIT_DELAY=7",
       "MIMALLOC_SEGMENT_DECOMMIT_DELAY=9"});
  EXPECT_EQ(child.Wait(30'000), 0);
}

}  // namespace
