#pragma once

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace omnigate::bench {

// A provider API simulator for tests, the demo and benchmarks. Speaks the
// Twilio Messages API today; other APIs plug in as route handlers. Built to be
// cheap: a hand-written HTTP/1.1 keep-alive parser on Asio, one io_context
// per thread, no allocation per request beyond the response string.
//
// Latency model: each response is delayed by `latency_ms` plus a uniform
// random extra in [0, jitter_ms], on a timer (never a sleeping thread).
// Outcome model, drawn per request in this order: invalid_number_rate (400,
// Twilio code 21211), throttle_rate (429 + Retry-After: 1, code 20429),
// error_rate (500), else success (201 with a Twilio message resource).
class MockProvider {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0 = pick one
    int threads = 1;
    int latency_ms = 0;
    int jitter_ms = 0;
    double error_rate = 0;
    double throttle_rate = 0;
    double invalid_number_rate = 0;
    std::string account_sid = "ACmock";
    std::string auth_token = "mock-token";
    std::string record_path;      // JSONL, one line per message received
    bool keep_in_memory = false;  // keep {to, body} of each message for Received()
    std::uint64_t seed = 1;
  };

  struct ReceivedMessage {
    std::string api;
    std::string to;
    std::string body;
    int status = 0;
  };

  explicit MockProvider(Options options);
  ~MockProvider();
  MockProvider(const MockProvider&) = delete;
  MockProvider& operator=(const MockProvider&) = delete;

  // Binds and starts the threads; returns the bound port (0 on failure, with
  // the reason in last_error()).
  std::uint16_t Start();
  void Stop();
  std::uint16_t port() const { return port_; }
  const std::string& last_error() const { return last_error_; }

  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t connections() const { return connections_.load(); }
  std::map<int, std::uint64_t> status_counts() const;
  std::vector<ReceivedMessage> Received() const;
  // {"requests":N,"connections":N,"status":{"201":N,...}}
  std::string StatsJson() const;

  // Called by connections (any thread).
  struct Reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string extra_headers;  // complete lines, each ending in \r\n
    std::string body;
    int delay_ms = 0;
  };
  Reply Handle(std::string_view method, std::string_view target, std::string_view authorization,
               std::string_view body, std::uint64_t random);

 private:
  class Impl;
  Reply Twilio(std::string_view sid, std::string_view authorization, std::string_view body,
               std::uint64_t random);
  void Record(const ReceivedMessage& m, std::string_view from, std::string_view callback);

  Options options_;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::string last_error_;
  std::string expected_auth_;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> sid_counter_{0};
  std::array<std::atomic<std::uint64_t>, 600> status_counts_{};
  mutable std::mutex mu_;  // guards the fields below
  std::vector<ReceivedMessage> received_;
  std::FILE* record_ = nullptr;
};

}  // namespace omnigate::bench
