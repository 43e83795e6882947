#pragma once
// Invariant checks for the fuzz targets: a violated one aborts, which libFuzzer
// reports as a crash and saves the input. Not assert(): it must hold in every
// build type.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
