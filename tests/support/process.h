#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace omnigate::testing {

// A child process started with fork/exec; stdout and stderr go to `log_path`
// (or are inherited when empty). The destructor sends SIGTERM, waits up to 10 s,
// then SIGKILLs.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path = {},
               const std::vector<std::string>& extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` and reaps the child; returns its wait status.
  int Stop(int sig);
  // Waits for the child to exit on its own (up to `timeout_ms`); returns its
  // exit code, or -1 if it did not exit or was killed by a signal.
  int Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// Runs a command to completion and returns its exit code; stdout is captured
// into `out` when given.
int RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr,
               int timeout_ms = 60'000);

// Path of a built binary: OMNIGATE_BINARY_DIR + relative path.
std::string BinaryPath(const std::string& relative);

}  // namespace omnigate::testing
