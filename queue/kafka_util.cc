#include "queue/kafka_properties.h"

#include <spdlog/spdlog.h>

#include "queue/rdkafka_handles.h"

namespace omnigate::queue::detail {
namespace {

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
  const char* name = rd_kafka_name(rk);
  if (level <= 3) {
    spdlog::error("kafka[{}] {}: {}", name, fac, buf);
  } else if (level == 4) {
    spdlog::warn("kafka[{}] {}: {}", name, fac, buf);
  } else if (level <= 6) {
    spdlog::info("kafka[{}] {}: {}", name, fac, buf);
  } else {
    spdlog::debug("kafka[{}] {}: {}", name, fac, buf);
  }
}

}  // namespace

Result<ConfPtr, std::string> MakeConf(const std::map<std::string, std::string>& defaults,
                                      const std::map<std::string, std::string>& overrides) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) -> bool {
    return rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) ==
           RD_KAFKA_CONF_OK;
  };
  for (const auto& [k, v] : defaults) {
    if (overrides.count(k) != 0) continue;
    if (!set(k, v)) return MakeUnexpected("librdkafka property '" + k + "': " + err);
  }
  for (const auto& [k, v] : overrides) {
    // The value is not echoed: properties such as sasl.password are secrets.
    if (!set(k, v)) return MakeUnexpected("librdkafka property '" + k + "': " + err);
  }
  InstallLogger(conf.get());
  return conf;
}

void InstallLogger(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, LogCallback); }

}  // namespace omnigate::queue::detail

namespace omnigate::queue {

std::optional<std::string> CheckKafkaProperty(const std::string& name, const std::string& value) {
  detail::ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  switch (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err, sizeof err)) {
    case RD_KAFKA_CONF_OK:
      return std::nullopt;
    case RD_KAFKA_CONF_UNKNOWN:
      return "unknown librdkafka property '" + name +
             "' (see librdkafka's CONFIGURATION.md for the accepted names)";
    case RD_KAFKA_CONF_INVALID:
      break;
  }
  // librdkafka's message quotes the value; secrets must not reach a terminal.
  for (const char* secret : {"password", "secret", "key", "token", "jaas"}) {
    if (name.find(secret) != std::string::npos) return "invalid value for '" + name + "'";
  }
  return std::string(err);
}

}  // namespace omnigate::queue
