#include "gateway/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace omnigate::gateway {
namespace {

std::string LogThrough(bool json, const std::string& message) {
  std::ostringstream os;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  spdlog::logger logger("t", MakeMaskingSink(inner, json));
  logger.set_pattern("%v");
  logger.info("{}", message);
  logger.flush();
  return os.str();
}

TEST(Logging, PhoneNumbersAndEmailsAreMaskedInEveryLine) {
  const std::string out = LogThrough(false, "send to +40700000001 and ana@example.com failed");
  EXPECT_EQ(out.find("+40700000001"), std::string::npos) << out;
  EXPECT_EQ(out.find("ana@example.com"), std::string::npos) << out;
  EXPECT_NE(out.find("+4070****001"), std::string::npos) << out;
}

TEST(Logging, JsonModeEscapesTheMessage) {
  const std::string out = LogThrough(true, "quote \" backslash \\ newline \n end");
  EXPECT_EQ(out, "quote \\\" backslash \\\\ newline \\u000a end\n");
}

TEST(Logging, UnknownLevelIsRefused) {
  EXPECT_FALSE(SetupLogging("loud", false));
  EXPECT_TRUE(SetupLogging("warn", false));
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
}

}  // namespace
}  // namespace omnigate::gateway
