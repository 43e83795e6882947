#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>
#include <stdexcept>
#include <thread>

namespace omnigate::testing {
namespace {

// Everything a child needs is built before fork(): between fork and exec
// the child of a threaded process may only make async-signal-safe calls. An
// allocation there can wait forever on an allocator lock another thread held
// at the fork (seen as `openssl req` "timing out" under ASan).
std::vector<char*> ToArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));  // NOLINT
  out.push_back(nullptr);
  return out;
}

// The environment with `extra` ("NAME=value") added, replacing the same names.
std::vector<char*> EnvWith(const std::vector<std::string>& extra) {
  std::vector<char*> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return x.size() > name.size() && x.compare(0, name.size(), name) == 0 && x[name.size()] == '=';
    });
    if (!replaced) out.push_back(*e);
  }
  for (const auto& x : extra) out.push_back(const_cast<char*>(x.c_str()));  // NOLINT
  out.push_back(nullptr);
  return out;
}

bool WaitPid(pid_t pid, int* status, int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::vector<std::string>& extra_env) {
  const std::vector<char*> args = ToArgv(argv);
  const std::vector<char*> env = EnvWith(extra_env);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    if (!log_path.empty()) {
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
    }
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGTERM);
    if (!WaitPid(pid_, &status_, 10'000)) {
      kill(pid_, SIGKILL);
      WaitPid(pid_, &status_, 10'000);
    }
  }
}

bool ChildProcess::running() {
  if (reaped_) return false;
  const pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

int ChildProcess::Stop(int sig) {
  if (reaped_) return status_;
  kill(pid_, sig);
  if (!WaitPid(pid_, &status_, 15'000)) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, &status_, 10'000);
  }
  reaped_ = true;
  return status_;
}

int ChildProcess::Wait(int timeout_ms) {
  if (!reaped_) {
    if (!WaitPid(pid_, &status_, timeout_ms)) return -1;
    reaped_ = true;
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

int RunCommand(const std::vector<std::string>& argv, std::string* out, int timeout_ms) {
  const std::vector<char*> args = ToArgv(argv);
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[1]);
    execvp(args[0], args.data());  // glibc's PATH search uses the stack, not malloc
    _exit(127);
  }
  close(pipefd[1]);
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  std::string captured;
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool done = false;
  while (!done) {
    char buf[65536];
    const ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n > 0) {
      captured.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      while (true) {
        const ssize_t m = read(pipefd[0], buf, sizeof buf);
        if (m <= 0) break;
        captured.append(buf, static_cast<std::size_t>(m));
      }
      done = true;
    } else if (std::chrono::steady_clock::now() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      close(pipefd[0]);
      return -1;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  close(pipefd[0]);
  if (out != nullptr) *out = std::move(captured);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string BinaryPath(const std::string& relative) {
  return std::string(OMNIGATE_BINARY_DIR) + "/" + relative;
}

}  // namespace omnigate::testing
