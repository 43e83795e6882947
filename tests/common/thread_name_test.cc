#include "common/thread_name.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <thread>

#include <sys/syscall.h>
#include <unistd.h>

namespace omnigate {
namespace {

// What `top -H` and the bench harness read: /proc/self/task/TID/comm.
std::string CommOf(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(ThreadName, NamesTheCallingThreadOnly) {
  const std::string before = ThreadName();
  std::string inside;
  std::string comm;
  std::thread t([&] {
    SetThreadName("og-worker-3");
    inside = ThreadName();
    comm = CommOf(syscall(SYS_gettid));
  });
  t.join();
  EXPECT_EQ(inside, "og-worker-3");
  EXPECT_EQ(comm, "og-worker-3");
  EXPECT_EQ(ThreadName(), before);
}

TEST(ThreadName, ALongNameIsCutToTheKernelsFifteenBytes) {
  std::string inside;
  std::thread t([&] {
    SetThreadName("og-a-name-longer-than-fifteen");
    inside = ThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "og-a-name-longe");
}

}  // namespace
}  // namespace omnigate
