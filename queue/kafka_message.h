#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

struct rd_kafka_message_s;

namespace omnigate::queue {

// One consumed record. Owns the librdkafka message (and with it the payload
// buffer) until destroyed; movable, safe to hand to another thread.
class KafkaMessage {
 public:
  KafkaMessage() = default;
  explicit KafkaMessage(rd_kafka_message_s* msg) : msg_(msg) {}
  ~KafkaMessage();
  KafkaMessage(KafkaMessage&& other) noexcept : msg_(std::exchange(other.msg_, nullptr)) {}
  KafkaMessage& operator=(KafkaMessage&& other) noexcept;
  KafkaMessage(const KafkaMessage&) = delete;
  KafkaMessage& operator=(const KafkaMessage&) = delete;

  explicit operator bool() const { return msg_ != nullptr; }
  std::string_view payload() const;
  std::string_view key() const;
  std::string_view topic() const;
  // The value of the last header called `name`, or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  std::int32_t partition() const;
  std::int64_t offset() const;

 private:
  rd_kafka_message_s* msg_ = nullptr;
};

}  // namespace omnigate::queue
