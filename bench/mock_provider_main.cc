// omnigate-mock-provider: the provider simulator as a standalone process.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <array>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/mock_provider.h"

int main(int argc, char** argv) {
  omnigate::bench::MockProvider::Options o;
  std::string port_file;
  std::vector<std::string> latency_by_api;
  std::string latency_dist = "uniform";
  CLI::App app{
      "Provider API simulator (Twilio, SendGrid, Viber, web push, generic HTTP) for Omnigate "
      "tests and benchmarks"};
  app.add_option("--host", o.host, "Address to listen on");
  app.add_option("--port", o.port, "Port (0 = pick one)");
  app.add_option("--port-file", port_file, "Write the bound port here once listening");
  app.add_option("--threads", o.threads, "I/O threads")->check(CLI::Range(1, 64));
  app.add_option("--latency-ms", o.latency_ms, "Fixed delay before each answer")
      ->check(CLI::Range(0, 600'000));
  app.add_option("--jitter-ms", o.jitter_ms, "Extra uniform random delay in [0, N]")
      ->check(CLI::Range(0, 600'000));
  app.add_option("--latency", latency_by_api,
                 "Per-API base delay replacing --latency-ms, api=ms (repeatable; apis: twilio, "
                 "sendgrid, viber, push, generic)");
  app.add_option("--latency-dist", latency_dist,
                 "uniform: base + jitter; exp: exponential with mean base, + jitter")
      ->check(CLI::IsMember({"uniform", "exp"}));
  app.add_option("--error-rate", o.error_rate, "Fraction answered 500")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--throttle-rate", o.throttle_rate, "Fraction answered 429 + Retry-After")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--invalid-number-rate", o.invalid_number_rate,
                 "Fraction answered with the API's invalid-recipient error (Twilio 21211, ...)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--gone-rate", o.gone_rate,
                 "Fraction answered 410 Gone by push (invalid-recipient elsewhere)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--account-sid", o.account_sid, "Expected AccountSid (URL and basic auth)");
  app.add_option("--auth-token", o.auth_token, "Expected auth token (basic auth)");
  app.add_option("--sendgrid-api-key", o.sendgrid_api_key,
                 "Expected SendGrid key (Authorization: Bearer)");
  app.add_option("--viber-auth-token", o.viber_auth_token, "Expected X-Viber-Auth-Token");
  app.add_option("--record", o.record_path, "Append one JSON line per message received");
  app.add_option("--seed", o.seed, "Random seed");
  std::vector<std::string> receipt_urls;
  std::string sendgrid_key_file;
  std::string sendgrid_public_key_file;
  auto& rs = o.receipts;
  app.add_option("--receipts", receipt_urls,
                 "Post signed delivery receipts for accepted messages: api=URL (repeatable; apis: "
                 "twilio, sendgrid, viber, generic; Twilio prefers each message's StatusCallback)");
  app.add_option("--receipt-delivered", rs.delivered, "Fraction of accepted messages delivered")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--receipt-failed", rs.failed,
                 "Fraction that get a failure receipt (the rest of the non-delivered: silent)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--receipt-read", rs.read,
                 "Of those delivered, the fraction also read (Viber seen, SendGrid open)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--receipt-delay-ms", rs.delay_ms, "Delay from the answer to the receipt")
      ->check(CLI::Range(0, 3'600'000));
  app.add_option("--receipt-jitter-ms", rs.jitter_ms, "Extra uniform random receipt delay")
      ->check(CLI::Range(0, 3'600'000));
  app.add_option("--generic-webhook-secret", o.generic_webhook_secret,
                 "HMAC-SHA256 key of the generic API's receipts (X-Signature, hex)");
  app.add_option("--sendgrid-webhook-key", sendgrid_key_file,
                 "PEM EC P-256 private key signing SendGrid events (default: a fresh key)");
  app.add_option("--sendgrid-public-key-file", sendgrid_public_key_file,
                 "Write the SendGrid events' verification key here (base64 SPKI DER, the "
                 "gateway's webhook_public_key)");
  bool no_http2 = false;
  app.add_option("--tls-cert", o.tls_cert_file,
                 "PEM certificate chain: the listener speaks HTTPS (with --tls-key)");
  app.add_option("--tls-key", o.tls_key_file, "PEM private key of --tls-cert");
  app.add_flag("--no-http2", no_http2, "HTTPS: offer only http/1.1 by ALPN, not h2");
  CLI11_PARSE(app, argc, argv);
  o.http2 = !no_http2;
  for (const std::string& item : latency_by_api) {
    const auto eq = item.find('=');
    int ms = -1;
    if (eq != std::string::npos) {
      const char* end = item.data() + item.size();
      const auto [p, ec] = std::from_chars(item.data() + eq + 1, end, ms);
      if (ec != std::errc{} || p != end) ms = -1;
    }
    if (ms < 0 || ms > 600'000 ||
        !omnigate::bench::MockApiFromString(std::string_view(item).substr(0, eq))) {
      std::fprintf(stderr,
                   "omnigate-mock-provider: --latency wants api=ms with api one of twilio, "
                   "sendgrid, viber, push, generic and 0 <= ms <= 600000, got '%s'\n",
                   item.c_str());
      return 2;
    }
    o.latency_ms_by_api[item.substr(0, eq)] = ms;
  }
  for (const std::string& item : receipt_urls) {
    static constexpr std::array<std::string_view, 4> kApis = {"twilio", "sendgrid", "viber",
                                                              "generic"};
    const auto eq = item.find('=');
    std::size_t i = 0;
    while (eq != std::string::npos && i < kApis.size() && kApis[i] != item.substr(0, eq)) ++i;
    if (eq == std::string::npos || i == kApis.size() || eq + 1 == item.size()) {
      std::fprintf(stderr,
                   "omnigate-mock-provider: --receipts wants api=URL with api one of twilio, "
                   "sendgrid, viber, generic, got '%s'\n",
                   item.c_str());
      return 2;
    }
    rs.url[i] = item.substr(eq + 1);
  }
  if (rs.delivered + rs.failed > 1.0 + 1e-9) {
    std::fprintf(stderr,
                 "omnigate-mock-provider: --receipt-delivered + --receipt-failed is more than 1\n");
    return 2;
  }
  if (!sendgrid_key_file.empty()) {
    std::ifstream in(sendgrid_key_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "omnigate-mock-provider: cannot read --sendgrid-webhook-key '%s'\n",
                   sendgrid_key_file.c_str());
      return 2;
    }
    o.sendgrid_webhook_private_key = text.str();
  }
  if (latency_dist == "exp") {
    o.latency_distribution = omnigate::bench::LatencyDistribution::exponential;
  }

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
  std::printf("omnigate-mock-provider listening on %s:%u%s\n", o.host.c_str(), port,
              !mock.tls() ? ""
              : o.http2   ? " (HTTPS; ALPN h2, http/1.1)"
                          : " (HTTPS; ALPN http/1.1)");
  std::printf("routes: %s\n", std::string(omnigate::bench::MockProvider::RoutesSummary()).c_str());
  std::fflush(stdout);
  if (!sendgrid_public_key_file.empty()) {
    const std::string tmp = sendgrid_public_key_file + ".tmp";
    std::ofstream(tmp) << mock.receipts().sendgrid_public_key() << "\n";
    std::rename(tmp.c_str(), sendgrid_public_key_file.c_str());
  }
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
