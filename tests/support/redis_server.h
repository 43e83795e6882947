#pragma once

#include <memory>
#include <string>

#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::testing {

// A free loopback TCP port: bound, read, released (for servers such as
// redis-server that cannot pick one and report it).
int FreeLoopbackPort();

// A real redis-server (Debian's /usr/bin/redis-server) on a free loopback
// port, its files in a temporary directory. Started by the constructor;
// Stop()/Start() take it down and up on the same port. Without persistence
// its data goes with a stop; with it (append-only file, fsync on every
// write) a restart brings every acknowledged write back.
class RedisServer {
 public:
  explicit RedisServer(bool persistent = false);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  void Start();  // returns once it answers PING
  void Stop();
  // Runs redis-cli against it; its exit code, stdout into `out`.
  int Cli(const std::vector<std::string>& args, std::string* out = nullptr) const;

 private:
  bool StartAndCheckOwner();
  int port_;
  bool persistent_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> server_;
};

}  // namespace omnigate::testing
