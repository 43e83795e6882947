#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace omnigate::gateway {

// `omnigate send`: one request from flags (or a file) to the configured
// Kafka, and with `wait` its events printed until the final one.
struct SendCommandOptions {
  std::string config_path;
  std::string file;  // a request as JSON; the flags below are then not used
  std::string id;    // empty: a fresh one ("cli-<random>")
  std::string tenant;
  std::string lane = "transactional";
  std::string to;        // a phone number (E.164) or an email address
  std::string viber_to;  // a Viber id, when not the phone number
  std::vector<std::string> channels;  // empty: every channel with content, in sms, viber, email order
  std::string sms;
  std::string viber;
  std::string email_from;
  std::string email_subject;
  std::string email_text;
  bool wait = false;
  std::chrono::milliseconds timeout{60'000};
};

// The request JSON the flags describe, or an error naming the flag.
std::string BuildRequestJson(const SendCommandOptions& o, std::string& error);

// Returns the process exit code: 0 sent (or published, without --wait), 1
// another final status or a timeout, 2 bad flags or config.
int SendCommand(const SendCommandOptions& options);

// `omnigate status ID`: the request's history as the events topic holds it
// (every event with its key, up to the topic's end when the command
// started), one JSON line each.
struct StatusCommandOptions {
  std::string config_path;
  std::string id;
  std::string tenant;  // empty: any tenant's request with this id
  std::chrono::milliseconds timeout{60'000};
};

// 0: the first final event has a good status (sent, delivered, read); a
// later final is a repeat's (duplicate) and does not change it; 1: another
// final status, no final event yet, no events or a timeout; 2: bad flags
// or config.
int StatusCommand(const StatusCommandOptions& options);

}  // namespace omnigate::gateway
