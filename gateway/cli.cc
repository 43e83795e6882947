#include "gateway/cli.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <tuple>
#include <variant>

#include "common/clock.h"
#include "common/duration.h"
#include "common/thread_name.h"
#include "gateway/address_api.h"
#include "gateway/config.h"
#include "gateway/dashboard.h"
#include "gateway/http_server.h"
#include "gateway/logging.h"
#include "gateway/message_status.h"
#include "gateway/metrics.h"
#include "gateway/pipeline.h"
#include "gateway/receipt_api.h"
#include "gateway/send_command.h"
#include "gateway/state/blocking_store.h"
#include "gateway/state_options.h"
#include "providers/webpush/webpush_crypto.h"
#include "queue/embedded_broker.h"

namespace omnigate::gateway {
namespace {

// Blocks SIGINT/SIGTERM in every thread (call before starting any) and
// returns a thread that waits for one and sets `stop`.
std::thread StartSignalWatcher(std::atomic<bool>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return std::thread([set, &stop] {
    SetThreadName("og-signals");
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop.store(true);
  });
}

void StopSignalWatcher(std::thread& t) {
  // Wake the watcher if no signal came (normal exit after a fatal error).
  pthread_kill(t.native_handle(), SIGTERM);
  t.join();
}

std::optional<Config> Load(const std::string& path) {
  auto cfg = LoadConfigFile(path);
  if (!cfg) {
    std::fprintf(stderr, "%s: %zu error(s)\n", path.c_str(), cfg.error().size());
    for (const auto& e : cfg.error()) std::fprintf(stderr, "  %s\n", e.ToString().c_str());
    return std::nullopt;
  }
  for (const auto& w : cfg->warnings) std::fprintf(stderr, "warning: %s\n", w.ToString().c_str());
  return std::move(cfg).value();
}

// Every provider request in flight may hold a connection (HTTP/1.1, SMTP), so
// the descriptor limit bounds max_in_flight. Raises the soft limit to the
// hard one, as servers do, and says so plainly when the providers could still
// exhaust it (accept and connect would then fail with EMFILE under load).
void CheckFileLimit(const Config& config) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  std::uint64_t connections = 0;
  for (const auto& pc : config.providers) {
    std::visit([&](const auto& s) { connections += static_cast<std::uint64_t>(s.http.max_in_flight); },
               pc.settings);
  }
  constexpr std::uint64_t kReserve = 1024;  // Kafka, files, headroom
  const auto http = static_cast<std::uint64_t>(config.http.max_connections);
  if (lim.rlim_cur != RLIM_INFINITY && connections + http + kReserve > lim.rlim_cur) {
    spdlog::warn(
        "open file limit is {} but the providers' max_in_flight add up to {} connections (+{} "
        "for http.max_connections, +{} reserved): raise the limit (LimitNOFILE= in the systemd "
        "unit, ulimit -n) or lower providers[].max_in_flight",
        static_cast<std::uint64_t>(lim.rlim_cur), connections, http, kReserve);
  }
}

bool IsLoopbackListen(const std::string& listen) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]" || host == "::1";
}

// An operator may open the listener (providers post receipts to it, probes and
// Prometheus reach it); without a token that opens the admin routes too.
void WarnAboutOpenListener(const HttpServerConfig& http) {
  if (http.admin_token.empty() && !IsLoopbackListen(http.listen)) {
    spdlog::warn("http.listen {} is reachable from the network and http.admin_token is not set: "
                 "every route is open to anyone who can connect. Set http.admin_token "
                 "(e.g. \"${{OMNIGATE_ADMIN_TOKEN}}\") or listen on 127.0.0.1",
                 http.listen);
  }
}

int Run(const std::string& path) {
  auto loaded = Load(path);
  if (!loaded) return 2;
  if (!SetupLogging(loaded->log.level, loaded->log.json)) {
    std::fprintf(stderr, "log.level: unknown level '%s'\n", loaded->log.level.c_str());
    return 2;
  }
  auto config = std::make_shared<const Config>(std::move(*loaded));
  CheckFileLimit(*config);
  std::atomic<bool> stop{false};
  std::thread watcher = StartSignalWatcher(stop);

  GatewayMetrics metrics;
  auto pipeline = Pipeline::Create(config, metrics);
  if (!pipeline) {
    spdlog::critical("cannot start: {}", pipeline.error());
    StopSignalWatcher(watcher);
    return 1;
  }
  HttpServer http({.listen = config->http.listen,
                   .admin_token = config->http.admin_token,
                   .open_routes = config->http.open_routes,
                   .max_connections = config->http.max_connections,
                   .idle_timeout = config->http.idle_timeout});
  Pipeline* p = pipeline->get();
  http.Route("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  http.Route("GET", "/readyz", [p](const HttpRequest&) {
    std::string why;
    return p->Ready(why) ? HttpResponse{200, "text/plain", "ready\n"}
                         : HttpResponse{503, "text/plain", why + "\n"};
  });
  http.Route("GET", "/metrics", [&metrics](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4", metrics.RenderPrometheus()};
  });
  RegisterDashboardRoutes(http, metrics, [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               SystemClock::Instance().Now().time_since_epoch())
        .count();
  });
  // The admin API's own way to the store: straight to the embedded one the
  // workers share, or a redis connection of its own (never a worker's).
  std::unique_ptr<state::BlockingStore> admin_store;
  if (config->policy.enabled) {
    if (state::StateStore* shared = p->shared_store()) {
      admin_store = std::make_unique<state::BlockingStore>(*shared);
    } else {
      admin_store = std::make_unique<state::BlockingStore>(RedisOptions(config->state.redis),
                                                           SystemClock::Instance());
    }
    RegisterAddressRoutes(http, *admin_store, SystemClock::Instance());
    if (config->state.status_retention.count() > 0) {
      RegisterMessageRoutes(http, *admin_store, "default");
      auto receipts = RegisterReceiptRoutes(http, {.config = config,
                                                   .store = admin_store.get(),
                                                   .producer = &p->producer(),
                                                   .metrics = &metrics,
                                                   .clock = &SystemClock::Instance()});
      if (!receipts) {
        spdlog::critical("cannot start: {}", receipts.error());
        StopSignalWatcher(watcher);
        return 2;
      }
    }
  }
  WarnAboutOpenListener(config->http);
  auto port = http.Start();
  if (!port) {
    spdlog::critical("cannot start: {}", port.error());
    StopSignalWatcher(watcher);
    return 1;
  }
  spdlog::info("omnigate: http on port {}, kafka {}, {} worker(s), {} provider(s)", *port,
               p->bootstrap(), config->pipeline.workers, config->providers.size());
  if (!config->http.port_file.empty() &&
      !queue::WriteFileAtomically(config->http.port_file, std::to_string(*port) + "\n")) {
    spdlog::error("http.port_file: cannot write '{}'", config->http.port_file);
  }
  const int rc = p->Run(stop);
  http.Stop();
  admin_store.reset();  // before the pipeline and the embedded store it owns
  pipeline->reset();
  if (!stop.load()) StopSignalWatcher(watcher);
  else watcher.join();
  spdlog::info("omnigate stopped");
  return rc;
}

int CheckConfig(const std::string& path) {
  auto loaded = Load(path);
  if (!loaded) return 2;
  std::printf("%s: ok (%zu provider(s), kafka %s)\n", path.c_str(), loaded->providers.size(),
              loaded->kafka.brokers.c_str());
  return 0;
}

int EmbeddedKafka(int brokers, int partitions, const std::vector<std::string>& topics,
                  const std::string& bootstrap_file) {
  SetupLogging("info", false);
  std::atomic<bool> stop{false};
  std::thread watcher = StartSignalWatcher(stop);
  auto broker = queue::EmbeddedBroker::Start(
      {.brokers = brokers, .partitions = partitions, .topics = topics});
  if (!broker) {
    spdlog::critical("{}", broker.error());
    StopSignalWatcher(watcher);
    return 1;
  }
  std::printf("%s\n", (*broker)->bootstrap().c_str());
  std::fflush(stdout);
  if (!bootstrap_file.empty() &&
      !queue::WriteFileAtomically(bootstrap_file, (*broker)->bootstrap() + "\n")) {
    spdlog::critical("cannot write '{}'", bootstrap_file);
    StopSignalWatcher(watcher);
    return 1;
  }
  watcher.join();
  return 0;
}

// Prints a fresh VAPID key pair: the public key goes to the web page that
// subscribes (applicationServerKey), the private key to the provider config.
int VapidKeys(bool json) {
  const auto key = providers::webpush::VapidKey::Generate();
  if (json) {
    std::printf("{\"publicKey\":\"%s\",\"privateKey\":\"%s\"}\n",
                key.PublicKeyBase64Url().c_str(), key.PrivateKeyBase64Url().c_str());
  } else {
    std::printf(
        "Public key (applicationServerKey for pushManager.subscribe):\n%s\n\n"
        "Private key (providers[].vapid_private_key; keep it secret):\n%s\n",
        key.PublicKeyBase64Url().c_str(), key.PrivateKeyBase64Url().c_str());
  }
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"Omnigate: omnichannel message dispatch gateway"};
  app.require_subcommand(1);
  std::string config_path;

  auto* run = app.add_subcommand("run", "Run the gateway");
  run->add_option("-c,--config", config_path, "YAML config file")->required();

  auto* check = app.add_subcommand("check-config", "Validate a config and print every error");
  check->add_option("-c,--config", config_path, "YAML config file")->required();

  int brokers = 1;
  int partitions = 16;
  std::vector<std::string> topics = {"omnigate.requests", "omnigate.requests.bulk",
                                     "omnigate.events", "omnigate.dlq"};
  std::string bootstrap_file;
  auto* kafka = app.add_subcommand(
      "embedded-kafka", "Run librdkafka's mock Kafka cluster alone (for tests and demos)");
  kafka->add_option("--brokers", brokers, "Broker count")->check(CLI::Range(1, 9));
  kafka->add_option("--partitions", partitions, "Partitions per topic")->check(CLI::Range(1, 1024));
  kafka->add_option("--topics", topics, "Topics to create")->delimiter(',');
  kafka->add_option("--bootstrap-file", bootstrap_file, "Write the bootstrap address here");

  bool vapid_json = false;
  auto* vapid = app.add_subcommand("vapid-keys", "Generate a VAPID key pair for web push");
  vapid->add_flag("--json", vapid_json, "Print {\"publicKey\",\"privateKey\"} as JSON");

  SendCommandOptions send_options;
  std::string send_timeout = "60s";
  auto* send = app.add_subcommand(
      "send", "Publish one request to the configured Kafka; --wait prints its events");
  send->add_option("-c,--config", send_options.config_path, "YAML config file (kafka.*)")
      ->required();
  send->add_option("--file", send_options.file, "The request as JSON (the content flags are then unused)");
  send->add_option("--id", send_options.id, "Idempotency key (default: cli-<random>)");
  send->add_option("--tenant", send_options.tenant, "Tenant (default: the gateway's default)");
  send->add_option("--lane", send_options.lane, "transactional or bulk")
      ->check(CLI::IsMember({"transactional", "bulk"}));
  send->add_option("--to", send_options.to, "Phone number (E.164) or email address");
  send->add_option("--viber-to", send_options.viber_to, "Viber id, when not the phone number");
  send->add_option("--channels", send_options.channels,
                   "Channels in cascade order (default: those with content)")
      ->delimiter(',');
  send->add_option("--sms", send_options.sms, "SMS text");
  send->add_option("--viber", send_options.viber, "Viber text");
  send->add_option("--email-from", send_options.email_from, "Email sender");
  send->add_option("--email-subject", send_options.email_subject, "Email subject");
  send->add_option("--email-text", send_options.email_text, "Email body (text/plain)");
  send->add_flag("--wait", send_options.wait, "Print the request's events until its final one");
  send->add_option("--timeout", send_timeout, "How long --wait waits (default 60s)");

  StatusCommandOptions status_options;
  std::string status_timeout = "60s";
  auto* status = app.add_subcommand(
      "status", "Print a request's events (its history) from the configured Kafka's events topic");
  status->add_option("id", status_options.id, "The request's id")->required();
  status->add_option("-c,--config", status_options.config_path, "YAML config file (kafka.*)")
      ->required();
  status->add_option("--tenant", status_options.tenant, "Only this tenant's request with the id");
  status->add_option("--timeout", status_timeout, "How long reading may take (default 60s)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; a usage error 2, as every command's bad flags do.
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (auto [flag, value, out] : {std::tuple{"send", &send_timeout, &send_options.timeout},
                                  std::tuple{"status", &status_timeout, &status_options.timeout}}) {
    if (!app.got_subcommand(flag)) continue;
    const auto timeout = ParseDuration(*value);
    if (!timeout) {
      std::fprintf(stderr, "--timeout: expected a duration like 60s\n");
      return 2;
    }
    *out = *timeout;
  }
  if (*status || *send) {
    // Their stdout is events, one JSON per line, for jq and scripts: the
    // Kafka clients' log goes to stderr, warnings and worse only.
    auto log = spdlog::stderr_logger_mt("cli");
    log->set_level(spdlog::level::warn);
    spdlog::set_default_logger(std::move(log));
    return *status ? StatusCommand(status_options) : SendCommand(send_options);
  }
  if (*run) return Run(config_path);
  if (*check) return CheckConfig(config_path);
  if (*kafka) return EmbeddedKafka(brokers, partitions, topics, bootstrap_file);
  if (*vapid) return VapidKeys(vapid_json);
  return 2;
}

}  // namespace omnigate::gateway
