#pragma once

#include <string>
#include <string_view>

namespace omnigate {

// Names the calling thread, as `top -H`, `ps -L`, gdb and /proc/PID/task/*/comm
// show it. Linux keeps 15 bytes; a longer name is cut. Each of the gateway's
// own threads is named "og-..." so that an operator (and bench/harness.py,
// which splits the CPU per send by thread) can tell them from librdkafka's
// ("rdk:...") and RocksDB's ("rocksdb:...").
void SetThreadName(std::string_view name);

// The calling thread's name, as the kernel has it.
std::string ThreadName();

}  // namespace omnigate
