#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace omnigate::testing {

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(bool persistent) : port_(FreeLoopbackPort()), persistent_(persistent) {
  // The port is free when picked, not when redis-server binds it: a test
  // running beside this one may take it first, and then this one's PING
  // would be answered by the other's server. Retried on a new port until the
  // server answering is the one started here.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (StartAndCheckOwner()) return;
    server_.reset();
    port_ = FreeLoopbackPort();
  }
  ADD_FAILURE() << "redis-server: no port of its own after 5 attempts";
}

bool RedisServer::StartAndCheckOwner() {
  Start();
  std::string info;
  if (Cli({"info", "server"}, &info) != 0) return false;
  const auto at = info.find("process_id:");
  if (at == std::string::npos) return false;
  return std::atoi(info.c_str() + at + 11) == static_cast<int>(server_->pid());
}

RedisServer::~RedisServer() { Stop(); }

void RedisServer::Start() {
  server_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly",
                               persistent_ ? "yes" : "no", "--appendfsync", "always", "--dir",
                               dir_.path()},
      dir_.File("redis.log"));
  EXPECT_TRUE(WaitFor([&] { return Cli({"ping"}) == 0; }, std::chrono::seconds(10)))
      << "redis-server did not answer on port " << port_;
}

void RedisServer::Stop() { server_.reset(); }

int RedisServer::Cli(const std::vector<std::string>& args, std::string* out) const {
  std::vector<std::string> argv = {"redis-cli", "-p", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, out);
}

}  // namespace omnigate::testing
