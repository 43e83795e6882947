#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

namespace omnigate::testing {

// Runs `io` in short slices until `done` holds or `deadline` passes, for tests
// that drive asynchronous code on their own thread. Returns `done()`.
inline bool RunIoUntil(boost::asio::io_context& io, const std::function<bool()>& done,
                       std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace omnigate::testing
