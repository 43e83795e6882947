// omnigate-transport-bench: the gateway's HTTP client alone (http::Transport,
// libcurl multi_socket on one Asio thread, as one worker runs it), sending
// the same request as bench/ceiling.sh's wrk to the mock provider, with a
// fixed number of requests outstanding. Prints one JSON object with its own
// CPU per request (getrusage: user + system), which is the part of the
// gateway's CPU per send that HTTP costs, to be set beside wrk's.
//
//   omnigate-transport-bench --url http://127.0.0.1:PORT/generic/send
//                            [--count 100000] [--concurrency 64]
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "providers/http/transport.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"omnigate-transport-bench: CPU per request of the gateway's HTTP client"};
  std::string url;
  std::uint64_t count = 100'000;
  int concurrency = 64;
  long connections_per_pool = 256;  // NOLINT(google-runtime-int)
  std::string ca_file;
  bool get = false;
  std::string engine = "automatic";
  app.add_option("--url", url, "POST target (the mock provider's /generic/send)")->required();
  app.add_option("--count", count, "requests to send (the first 5% are warm-up, not counted)")
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{100'000'000}));
  app.add_option("--concurrency", concurrency, "requests outstanding (and connections)")
      ->check(CLI::Range(1, 10'000));
  app.add_option("--connections-per-pool", connections_per_pool,
                 "connections per curl multi handle (TransportOptions::connections_per_pool)")
      ->check(CLI::Range(1L, 1'000'000L));
  app.add_option("--ca-file", ca_file, "PEM bundle to verify an https:// target against");
  app.add_flag("--get", get, "GET without a body instead of the POST");
  app.add_option("--engine", engine,
                 "TransportOptions::engine: automatic (HTTP/1.1 client for http://), curl, native")
      ->check(CLI::IsMember({"automatic", "curl", "native"}));
  CLI11_PARSE(app, argc, argv);

  boost::asio::io_context io{1};
  omnigate::http::TransportOptions options;
  options.ca_file = ca_file;
  options.max_connections_per_host = concurrency;
  options.max_total_connections = concurrency;
  options.connections_per_pool = connections_per_pool;
  options.engine = engine == "curl"     ? omnigate::http::HttpEngine::curl
                   : engine == "native" ? omnigate::http::HttpEngine::native
                                        : omnigate::http::HttpEngine::automatic;
  omnigate::http::Transport transport(io, options);

  const std::uint64_t warmup = count / 20;
  std::uint64_t started = 0, finished = 0, failed = 0;
  double cpu0 = 0;
  double cpu1 = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto t1 = t0;
  std::function<void()> send_one = [&] {
    omnigate::http::Request req;
    req.method = get ? omnigate::http::Method::get : omnigate::http::Method::post;
    req.url = url;
    if (!get) req.headers = {"Content-Type: application/json"};
    if (!get) req.body = R"({"to":"+40700000001","from":"Omnigate","text":"ceiling measurement"})";
    ++started;
    transport.Send(std::move(req), [&](omnigate::http::Response r) {
      if (r.error != omnigate::http::TransportError::none || r.status / 100 != 2) {
        if (failed++ == 0) {
          std::fprintf(stderr, "first failure: status %ld, %s %s\n", r.status,
                       std::string(omnigate::http::ToString(r.error)).c_str(),
                       r.error_message.c_str());
        }
      }
      if (++finished == warmup) {
        cpu0 = CpuSeconds();
        t0 = std::chrono::steady_clock::now();
      }
      if (finished == count) {
        // The figures end with the last answer: the transport may still hold
        // a timer (curl's connect timeout, seconds away) that would keep
        // io.run() going and inflate the wall time.
        cpu1 = CpuSeconds();
        t1 = std::chrono::steady_clock::now();
        io.stop();
        return;
      }
      if (started < count) send_one();
    });
  };
  for (int i = 0; i < concurrency && started < count; ++i) send_one();
  io.run();
  if (finished < count) {  // io.run() ended early: every request must have an answer
    std::fprintf(stderr, "only %llu of %llu requests answered\n",
                 static_cast<unsigned long long>(finished), static_cast<unsigned long long>(count));
    return 1;
  }
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  const double cpu = cpu1 - cpu0;
  const auto measured = static_cast<double>(finished - warmup);
  std::printf("%s\n",
              fmt::format(R"({{"tool":"omnigate-transport-bench","requests":{},"failed":{},)"
                          R"("concurrency":{},"requests_per_s":{:.1f},"cpu_us_per_request":{:.2f}}})",
                          finished - warmup, failed, concurrency, measured / wall,
                          cpu * 1e6 / measured)
                  .c_str());
  return failed == 0 ? 0 : 1;
}
