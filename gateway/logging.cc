#include "gateway/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "common/mask.h"

namespace omnigate::gateway {
namespace {

// Masks the payload of every record, then forwards to the real sink.
class MaskingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  MaskingSink(spdlog::sink_ptr inner, bool json_escape)
      : inner_(std::move(inner)), json_escape_(json_escape) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string masked = MaskPiiInText(std::string_view(msg.payload.data(), msg.payload.size()));
    if (json_escape_) masked = JsonEscape(masked);
    spdlog::details::log_msg copy(msg);
    copy.payload = masked;
    inner_->log(copy);
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  static std::string JsonEscape(std::string_view in) {
    std::string out;
    out.reserve(in.size() + 8);
    for (const char c : in) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      } else {
        out.push_back(c);
      }
    }
    return out;
  }

  spdlog::sink_ptr inner_;
  bool json_escape_;
};

}  // namespace

spdlog::sink_ptr MakeMaskingSink(spdlog::sink_ptr inner, bool json_escape) {
  return std::make_shared<MaskingSink>(std::move(inner), json_escape);
}

bool SetupLogging(const std::string& level, bool json) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  auto sink = MakeMaskingSink(std::make_shared<spdlog::sinks::stderr_sink_mt>(), json);
  auto logger = std::make_shared<spdlog::logger>("omnigate", sink);
  if (json) {
    // The sink JSON-escapes the message before it lands in "msg".
    logger->set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","thread":%t,"msg":"%v"})",
        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%t] %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace omnigate::gateway
