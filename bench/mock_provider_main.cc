// omnigate-mock-provider: the provider simulator as a standalone process.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "bench/mock_provider.h"

int main(int argc, char** argv) {
  omnigate::bench::MockProvider::Options o;
  std::string port_file;
  CLI::App app{"Provider API simulator (Twilio Messages API) for Omnigate tests and benchmarks"};
  app.add_option("--host", o.host, "Address to listen on");
  app.add_option("--port", o.port, "Port (0 = pick one)");
  app.add_option("--port-file", port_file, "Write the bound port here once listening");
  app.add_option("--threads", o.threads, "I/O threads")->check(CLI::Range(1, 64));
  app.add_option("--latency-ms", o.latency_ms, "Fixed delay before each answer")
      ->check(CLI::Range(0, 600'000));
  app.add_option("--jitter-ms", o.jitter_ms, "Extra uniform random delay in [0, N]")
      ->check(CLI::Range(0, 600'000));
  app.add_option("--error-rate", o.error_rate, "Fraction answered 500")->check(CLI::Range(0.0, 1.0));
  app.add_option("--throttle-rate", o.throttle_rate, "Fraction answered 429 + Retry-After")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--invalid-number-rate", o.invalid_number_rate,
                 "Fraction answered 400 with Twilio error 21211")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--account-sid", o.account_sid, "Expected AccountSid (URL and basic auth)");
  app.add_option("--auth-token", o.auth_token, "Expected auth token (basic auth)");
  app.add_option("--record", o.record_path, "Append one JSON line per message received");
  app.add_option("--seed", o.seed, "Random seed");
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  omnigate::bench::MockProvider mock(o);
  const auto port = mock.Start();
  if (port == 0) {
    std::fprintf(stderr, "omnigate-mock-provider: %s\n", mock.last_error().c_str());
    return 1;
  }
  std::printf("omnigate-mock-provider listening on %s:%u\n", o.host.c_str(), port);
  std::fflush(stdout);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  mock.Stop();
  std::printf("omnigate-mock-provider stopped: %s\n", mock.StatsJson().c_str());
  return 0;
}
