#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::testing {

// One event as read back from omnigate.events.
struct SeenEvent {
  std::string id;
  std::string status;
  bool final = false;
  std::string reason;
  std::string provider_message_id;
  int segments = 0;
};

// Runs the real processes a user runs: `omnigate embedded-kafka`, the mock
// provider, and `omnigate run`, each a child process, and talks to Kafka with
// kcat, an independent client.
class E2eFixture {
 public:
  struct Options {
    int partitions = 4;
    int max_in_flight = 2000;
    int max_in_flight_per_partition = 1000;
    int mock_latency_ms = 0;
    int provider_max_in_flight = 256;
    std::string drain_timeout = "5s";
    std::string commit_interval = "50ms";
    // Appended to the config after the providers (more providers, routes,
    // ...); "{mock}" in it becomes the mock provider's base URL.
    std::string extra_gateway_yaml;
    // The `state:` mapping; empty: the embedded store in the test directory.
    std::string state_yaml;
    // Added to the `http:` mapping (e.g. "admin_token: x").
    std::string http_yaml;
    // Prepended to the `omnigate run` command line (e.g. prlimit and its flags).
    std::vector<std::string> gateway_prefix;
  };

  explicit E2eFixture(Options options);
  ~E2eFixture();

  void StartGateway();
  void KillGateway();  // SIGKILL
  // A second instance in the same consumer group (same config, its own HTTP
  // port); stopped with SIGTERM, waiting up to `timeout`. Returns the seconds
  // the stop took, -1 when it hung.
  void StartSecondGateway();
  double TerminateSecondGateway(std::chrono::seconds timeout);
  // SIGTERM, then waits up to `timeout` for the gateway to exit. Returns the
  // seconds it took, or -1 when it was still running (it is then killed).
  double TerminateGateway(std::chrono::seconds timeout);
  // SIGSTOP / SIGCONT the embedded Kafka: a frozen broker, as after a long GC
  // pause or a hung host.
  void FreezeKafka(bool frozen);

  // Publishes one record per line of `records` ("key\tvalue") with kcat.
  // `kcat_args` are added to kcat's command line (e.g. "-z", "gzip").
  void Publish(const std::string& topic, const std::vector<std::pair<std::string, std::string>>& records,
               const std::vector<std::string>& kcat_args = {});
  // Every event on omnigate.events so far.
  std::vector<SeenEvent> ReadEvents();
  // DLQ records: value plus headers rendered by kcat.
  std::vector<std::string> ReadDlq();
  // Final events by id (the last one seen per id) and how many finals each id got.
  std::map<std::string, int> FinalCounts(const std::vector<SeenEvent>& events);

  // Lines of the mock provider's record file.
  std::vector<std::string> MockRecords();
  std::string GatewayLog() const;
  std::string SecondGatewayLog() const;
  std::string config_path() const { return dir_.File("omnigate.yaml"); }
  int http_port() const { return http_port_; }
  int mock_port() const { return mock_port_; }
  int second_http_port() const;
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  Options options_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> kafka_;
  std::unique_ptr<ChildProcess> mock_;
  std::unique_ptr<ChildProcess> gateway_;
  std::unique_ptr<ChildProcess> second_;
  std::string bootstrap_;
  int mock_port_ = 0;
  int http_port_ = 0;
};

}  // namespace omnigate::testing
