#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace omnigate::testing {

// Polls `condition` until it returns true or `deadline` passes. Returns the
// last value of the condition. Tests use this instead of sleeping for an effect.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds deadline = std::chrono::seconds(20),
             std::chrono::milliseconds poll = std::chrono::milliseconds(5));

// Reads a whole file; empty string when missing.
std::string ReadFile(const std::string& path);

// A fresh empty directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace omnigate::testing
