#pragma once

#include <optional>
#include <string>

namespace omnigate::queue {

// Checks one librdkafka property the way rd_kafka_new would, without a client:
// nullopt when librdkafka accepts it, else why not (never quoting a value that
// may be a secret). For `check-config`, so that a typo fails there and not at
// `run`.
std::optional<std::string> CheckKafkaProperty(const std::string& name, const std::string& value);

}  // namespace omnigate::queue
