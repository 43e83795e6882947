#pragma once

namespace omnigate::gateway {

// `omnigate run|check-config|embedded-kafka ...`; returns the exit code.
// Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
int RunCli(int argc, char** argv);

}  // namespace omnigate::gateway
