#include "tests/e2e/e2e_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <string_view>

namespace omnigate::testing {

namespace {

std::string ReplaceAll(std::string text, std::string_view from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

E2eFixture::E2eFixture(Options options) : options_(std::move(options)) {
  const std::string bootstrap_file = dir_.File("bootstrap");
  kafka_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{BinaryPath("gateway/omnigate"), "embedded-kafka", "--partitions",
                               std::to_string(options_.partitions), "--bootstrap-file",
                               bootstrap_file},
      dir_.File("kafka.log"));
  EXPECT_TRUE(WaitFor([&] { return !ReadFile(bootstrap_file).empty(); }))
      << ReadFile(dir_.File("kafka.log"));
  bootstrap_ = Trim(ReadFile(bootstrap_file));

  const std::string port_file = dir_.File("mock.port");
  mock_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{BinaryPath("bench/omnigate-mock-provider"), "--port", "0",
                               "--port-file", port_file, "--record", dir_.File("mock.jsonl"),
                               "--latency-ms", std::to_string(options_.mock_latency_ms),
                               "--account-sid", "ACtest", "--auth-token", "secret-token"},
      dir_.File("mock.log"));
  EXPECT_TRUE(WaitFor([&] { return !ReadFile(port_file).empty(); }))
      << ReadFile(dir_.File("mock.log"));
  mock_port_ = std::stoi(Trim(ReadFile(port_file)));

  std::ofstream cfg(dir_.File("omnigate.yaml"));
  cfg << "kafka:\n"
      << "  brokers: \"" << bootstrap_ << "\"\n"
      << "  group_id: e2e\n"
      << "  commit_interval: " << options_.commit_interval << "\n"
      << "  statistics_interval: 250ms\n"
      << "  consumer: {\"session.timeout.ms\": \"6000\"}\n"
      << "pipeline:\n"
      << "  workers: 2\n"
      << "  max_in_flight: " << options_.max_in_flight << "\n"
      << "  max_in_flight_per_partition: " << options_.max_in_flight_per_partition << "\n"
      << "  drain_timeout: " << options_.drain_timeout << "\n"
      << "retry: {max_attempts: 3, initial_backoff: 50ms, max_backoff: 200ms}\n"
      << "http: {listen: \"127.0.0.1:0\", port_file: \"" << dir_.File("http.port") << "\""
      << (options_.http_yaml.empty() ? "" : ", " + options_.http_yaml) << "}\n"
      << "log: {level: info}\n"
      << (options_.state_yaml.empty()
              ? "state: {path: \"" + dir_.File("state") + "\"}\n"
              : "state: " + options_.state_yaml + "\n")
      << "providers:\n"
      << "  - name: sms-main\n"
      << "    type: twilio\n"
      << "    base_url: \"http://127.0.0.1:" << mock_port_ << "\"\n"
      << "    account_sid: ACtest\n"
      << "    auth_token: \"${E2E_TWILIO_TOKEN}\"\n"
      << "    from: \"+15005550006\"\n"
      << "    timeout: 5s\n"
      << "    max_in_flight: " << options_.provider_max_in_flight << "\n"
      << "  - name: viber-main\n"
      << "    type: viber\n"
      << "    base_url: \"http://127.0.0.1:" << mock_port_ << "\"\n"
      << "    auth_token: viber-mock\n"
      << "    sender_name: Shop\n"
      << ReplaceAll(options_.extra_gateway_yaml, "{mock}",
                    "http://127.0.0.1:" + std::to_string(mock_port_));
}

E2eFixture::~E2eFixture() {
  second_.reset();
  gateway_.reset();
  mock_.reset();
  kafka_.reset();
}

void E2eFixture::StartGateway() {
  std::remove(dir_.File("http.port").c_str());
  std::vector<std::string> argv = options_.gateway_prefix;
  for (const auto& a : {BinaryPath("gateway/omnigate"), std::string("run"), std::string("-c"),
                        dir_.File("omnigate.yaml")}) {
    argv.push_back(a);
  }
  gateway_ = std::make_unique<ChildProcess>(
      argv, dir_.File("gateway.log"), std::vector<std::string>{"E2E_TWILIO_TOKEN=secret-token"});
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(dir_.File("http.port")).empty(); }))
      << GatewayLog();
  http_port_ = std::stoi(Trim(ReadFile(dir_.File("http.port"))));
}

int E2eFixture::second_http_port() const {
  const std::string port = Trim(ReadFile(dir_.File("http2.port")));
  return port.empty() ? -1 : std::stoi(port);
}

void E2eFixture::StartSecondGateway() {
  std::string cfg = ReadFile(dir_.File("omnigate.yaml"));
  const std::string from = dir_.File("http.port");
  cfg.replace(cfg.find(from), from.size(), dir_.File("http2.port"));
  // The embedded store is one process's (RocksDB locks it): the second
  // instance keeps its own, as a second machine would.
  if (const auto at = cfg.find(dir_.File("state") + "\""); at != std::string::npos) {
    cfg.replace(at, dir_.File("state").size(), dir_.File("state2"));
  }
  {
    std::ofstream(dir_.File("omnigate2.yaml")) << cfg;
  }
  std::remove(dir_.File("http2.port").c_str());
  second_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{BinaryPath("gateway/omnigate"), "run", "-c",
                               dir_.File("omnigate2.yaml")},
      dir_.File("gateway2.log"), std::vector<std::string>{"E2E_TWILIO_TOKEN=secret-token"});
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(dir_.File("http2.port")).empty(); }))
      << ReadFile(dir_.File("gateway2.log"));
}

double E2eFixture::TerminateSecondGateway(std::chrono::seconds timeout) {
  if (second_ == nullptr) return -1;
  const auto start = std::chrono::steady_clock::now();
  ::kill(second_->pid(), SIGTERM);
  second_->Wait(static_cast<int>(timeout.count() * 1000));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (second_->running()) {
    second_->Stop(SIGKILL);
    return -1;
  }
  return took;
}

void E2eFixture::KillGateway() {
  ASSERT_NE(gateway_, nullptr);
  gateway_->Stop(SIGKILL);
}

double E2eFixture::TerminateGateway(std::chrono::seconds timeout) {
  if (gateway_ == nullptr) return -1;
  const auto start = std::chrono::steady_clock::now();
  ::kill(gateway_->pid(), SIGTERM);
  const int rc = gateway_->Wait(static_cast<int>(timeout.count() * 1000));
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (gateway_->running()) {
    gateway_->Stop(SIGKILL);
    return -1;
  }
  EXPECT_EQ(rc, 0) << "exit code after SIGTERM";
  return took;
}

void E2eFixture::FreezeKafka(bool frozen) {
  ASSERT_NE(kafka_, nullptr);
  ::kill(kafka_->pid(), frozen ? SIGSTOP : SIGCONT);
}

void E2eFixture::Publish(const std::string& topic,
                         const std::vector<std::pair<std::string, std::string>>& records,
                         const std::vector<std::string>& kcat_args) {
  const std::string file = dir_.File("publish.txt");
  {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& [k, v] : records) out << k << '\t' << v << '\n';
  }
  std::string out;
  std::vector<std::string> argv = {"kcat", "-P", "-b", bootstrap_, "-t", topic, "-K", "\t"};
  argv.insert(argv.end(), kcat_args.begin(), kcat_args.end());
  argv.push_back("-l");
  argv.push_back(file);
  const int rc = RunCommand(argv, &out, 120'000);
  ASSERT_EQ(rc, 0) << out;
}

std::vector<SeenEvent> E2eFixture::ReadEvents() {
  std::string out;
  RunCommand({"kcat", "-C", "-b", bootstrap_, "-t", "omnigate.events", "-o", "beginning", "-e",
              "-q", "-f", "%s\n"},
             &out, 60'000);
  std::vector<SeenEvent> events;
  simdjson::dom::parser parser;
  for (const auto& line : Lines(out)) {
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "event is not JSON: " << line;
      continue;
    }
    SeenEvent e;
    std::string_view sv;
    if (doc["id"].get(sv) == simdjson::SUCCESS) e.id = std::string(sv);
    if (doc["status"].get(sv) == simdjson::SUCCESS) e.status = std::string(sv);
    bool b = false;
    if (doc["final"].get(b) == simdjson::SUCCESS) e.final = b;
    if (doc["reason"].get(sv) == simdjson::SUCCESS) e.reason = std::string(sv);
    if (doc["provider_message_id"].get(sv) == simdjson::SUCCESS) {
      e.provider_message_id = std::string(sv);
    }
    std::int64_t seg = 0;
    if (doc["segments"].get(seg) == simdjson::SUCCESS) e.segments = static_cast<int>(seg);
    events.push_back(std::move(e));
  }
  return events;
}

std::vector<std::string> E2eFixture::ReadDlq() {
  std::string out;
  RunCommand({"kcat", "-C", "-b", bootstrap_, "-t", "omnigate.dlq", "-o", "beginning", "-e", "-q",
              "-f", "%h|%s\n"},
             &out, 60'000);
  return Lines(out);
}

std::map<std::string, int> E2eFixture::FinalCounts(const std::vector<SeenEvent>& events) {
  std::map<std::string, int> finals;
  for (const auto& e : events) {
    if (e.final) ++finals[e.id];
  }
  return finals;
}

std::vector<std::string> E2eFixture::MockRecords() {
  return Lines(ReadFile(dir_.File("mock.jsonl")));
}

std::string E2eFixture::GatewayLog() const { return ReadFile(dir_.File("gateway.log")); }
std::string E2eFixture::SecondGatewayLog() const { return ReadFile(dir_.File("gateway2.log")); }

}  // namespace omnigate::testing
