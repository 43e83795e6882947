#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "providers/channel.h"
#include "providers/circuit_breaker.h"
#include "providers/generic/generic_config.h"
#include "providers/sendgrid/sendgrid_config.h"
#include "providers/smtp/smtp_config.h"
#include "providers/twilio/twilio_config.h"
#include "providers/viber/viber_config.h"
#include "providers/webpush/webpush_config.h"

namespace omnigate::gateway {

using std::chrono::milliseconds;

struct TopicsConfig {
  std::string requests = "omnigate.requests";
  std::string requests_bulk = "omnigate.requests.bulk";
  std::string events = "omnigate.events";
  std::string dlq = "omnigate.dlq";
};

struct EmbeddedKafkaConfig {
  int brokers = 1;
  int partitions = 16;
  // When set, the bootstrap address ("127.0.0.1:PORT") is written here.
  std::string bootstrap_file;
};

// The values of kafka.compression (librdkafka's compression.type).
inline constexpr const char* kKafkaCompressions[] = {"none", "gzip", "snappy", "lz4", "zstd"};

struct KafkaConfig {
  // "embedded" starts librdkafka's in-process mock cluster; anything else is
  // a bootstrap list "host:port,host:port".
  std::string brokers = "embedded";
  EmbeddedKafkaConfig embedded;
  std::string group_id = "omnigate";
  TopicsConfig topics;
  milliseconds commit_interval{1000};
  // Done offsets above the committed one travel in the commit's metadata
  // (queue/offset_tracker.h), so that a restart or rebalance skips them.
  // Brokers refuse more than offset.metadata.max.bytes (4,096 by default);
  // 0 turns it off.
  int commit_metadata_max_bytes = 3500;
  // Codec of the records the gateway produces (events, DLQ): one of
  // kKafkaCompressions. Every consumer of those topics must read it: kafkajs
  // reads only gzip unless a codec package is registered (kafkajs-lz4 for
  // lz4); see docs/wire-formats.md. lz4: the cheapest for the producer.
  std::string compression = "lz4";
  // How often librdkafka reports consumer lag, broker round trips and the
  // producer's queue (statistics.interval.ms) for /metrics; 0 turns it off.
  milliseconds statistics_interval{5000};
  // Extra librdkafka properties, passed through verbatim (e.g.
  // "security.protocol", "sasl.mechanisms"). Values support ${ENV}.
  std::map<std::string, std::string> consumer_properties;
  std::map<std::string, std::string> producer_properties;
};

struct PipelineConfig {
  int workers = 2;  // io_context threads; each owns its providers and transports
  // Requests consumed but not yet at a durable point, over all partitions.
  // Partitions are paused above this and resumed below 3/4 of it.
  int max_in_flight = 20'000;
  int max_in_flight_per_partition = 5'000;
  // On rebalance or shutdown, how long in-flight requests of revoked
  // partitions may take to finish before they are abandoned (not committed).
  milliseconds drain_timeout{10'000};
  // send_at further ahead than this is rejected (rule `horizon`). With the
  // state store a scheduled request is a durable timer and its offset is
  // committed; with policy off it waits in memory and holds its partition's
  // committed offset, so keep this short there (check-config warns).
  milliseconds max_schedule_ahead{30LL * 86'400'000};
};

// The defaults wait about two minutes in all (2+4+8+16+32+60 s, ±20%)
// before a channel fails: longer than a provider's restart or a failover.
struct RetryConfig {
  int max_attempts = 7;  // total sends per channel, first included
  milliseconds initial_backoff{2000};
  milliseconds max_backoff{60'000};  // also caps a provider's Retry-After
  double multiplier = 2.0;
};

struct HttpServerConfig {
  // "host:port"; port 0 picks one. Loopback by default: an operator opens it
  // (receipts, probes, scraping) on purpose, with admin_token set.
  std::string listen = "127.0.0.1:8080";
  std::string port_file;    // when set, the bound port is written here
  std::string admin_token;  // bearer token for every route not in open_routes; empty = open
  // The gateway's address as providers call it ("https://gw.example.com"),
  // when a proxy stands in front: Twilio signs the URL it called.
  std::string public_url;
  // Routes answered without the token. Only these three may be listed:
  // admin routes (messages, suppressions, stats, dashboard) never are.
  std::vector<std::string> open_routes = {"/healthz", "/readyz"};
  // Connections served at once; further ones wait in the kernel's accept
  // queue (no descriptor used) until one closes. Keeps the listener from
  // taking the descriptors providers and Kafka need.
  int max_connections = 256;
  milliseconds idle_timeout{15'000};  // a connection with no complete request is closed
};

struct RedisStateConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH; from ${ENV} or password_file, never logged
  milliseconds command_timeout{2000};
  milliseconds reconnect_backoff{500};
};

// Where the gateway keeps what it must remember (DESIGN.md §9).
struct StateConfig {
  std::string backend = "embedded";  // "embedded" (RocksDB) or "redis"
  // The embedded store's directory. Must be on local disk and used by one
  // process at a time (RocksDB locks it).
  std::string path = "/var/lib/omnigate/state";
  bool sync_writes = false;  // fsync every write (power-cut safety; slower)
  // How long the status store keeps a request's history (GET /v1/messages)
  // and its provider id after the last change; 0 keeps none.
  milliseconds status_retention{7 * 86'400'000LL};
  RedisStateConfig redis;
};

// Which lane(s) a policy rule applies to.
enum class LaneScope : std::uint8_t { bulk, transactional, all };

// "3/24h": at most `limit` sends per `window`.
struct CapLimit {
  int limit = 1;
  milliseconds window{3'600'000};
};

// A frequency cap on one recipient (user_id, else the address): on one
// channel, or across all channels when `channel` is unset.
struct FrequencyCap {
  std::optional<Channel> channel;
  LaneScope lanes = LaneScope::bulk;
  std::vector<CapLimit> limits;
};

// No bulk sends between `start` and `end` (minutes after local midnight in
// the recipient's time zone; start > end crosses midnight): a send inside
// is deferred to the end of the window.
struct QuietHoursRule {
  int start_minute = 21 * 60;
  int end_minute = 8 * 60;
  LaneScope lanes = LaneScope::bulk;
  std::vector<Channel> channels;  // empty: every channel
};

// What a frequency cap does to a send over it.
enum class OverCap : std::uint8_t {
  suppress,  // the request ends `suppressed` (reason frequency_cap)
  defer,     // `deferred` to when the window allows it
};

// The rules of one tenant. `policy.defaults` holds them for every tenant;
// `policy.tenants.<name>` overrides any of them.
struct TenantPolicy {
  milliseconds dedup_window{24 * 3'600'000};  // a repeated (tenant, id) inside it is a duplicate
  // Same recipient + channel + content inside content_window is a duplicate
  // even under another id (an upstream that publishes twice).
  bool content_dedup = false;
  milliseconds content_window{600'000};
  // Send only to addresses with a recorded opt-in (POST /v1/consents).
  bool bulk_requires_opt_in = false;
  bool transactional_requires_opt_in = false;
  std::vector<FrequencyCap> frequency_caps;
  OverCap over_cap = OverCap::suppress;
  std::vector<QuietHoursRule> quiet_hours;
  // For recipients without to.timezone (IANA name).
  std::string timezone = "UTC";
};

struct PolicyConfig {
  // Off: no state store, no checks (the bare pipeline, for benchmarks).
  bool enabled = true;
  TenantPolicy defaults;
  std::map<std::string, TenantPolicy, std::less<>> tenants;
  const TenantPolicy& For(std::string_view tenant) const {
    const auto it = tenants.find(tenant);
    return it == tenants.end() ? defaults : it->second;
  }
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  bool json = false;
};

// Provider settings live with their adapters; the gateway only selects them.
using providers::GenericHttpConfig;
using providers::HttpProviderCommon;
using providers::SendGridConfig;
using providers::SmtpConfig;
using providers::TwilioConfig;
using providers::ViberConfig;
using providers::WebPushConfig;

// The closed set of provider kinds; adding one is a compile error until every
// std::visit over this variant handles it.
using ProviderSettings = std::variant<TwilioConfig, SendGridConfig, SmtpConfig, ViberConfig,
                                      WebPushConfig, GenericHttpConfig>;

struct ProviderConfig {
  std::string name;  // unique; appears in events and metrics
  Channel channel = Channel::sms;
  ProviderSettings settings;
  // providers[].circuit_breaker: {failures, open_for, max_open_for}.
  providers::CircuitBreaker::Options circuit_breaker;
};

// One problem found in a config file. `path` is the YAML key path
// ("providers[0].timeout", "kafka.topics.events").
struct ConfigError {
  std::string path;
  std::string message;
  std::string ToString() const;  // "providers[0].timeout: expected a duration like 10s"
};

struct Config {
  KafkaConfig kafka;
  PipelineConfig pipeline;
  RetryConfig retry;
  HttpServerConfig http;
  StateConfig state;
  PolicyConfig policy;
  LogConfig log;
  std::vector<ProviderConfig> providers;
  // Failover order of provider names per channel. Defaults to the declaration
  // order of the providers of that channel.
  std::map<Channel, std::vector<std::string>> routes;
  // Problems that do not stop the gateway; `check-config` and `run` print
  // them as warnings.
  std::vector<ConfigError> warnings;
};

// Parses YAML text. Every problem is reported, not only the first: unknown
// keys (with the accepted ones listed), wrong types, bad values, missing
// required keys, and ${ENV} references to unset variables.
Result<Config, std::vector<ConfigError>> ParseConfig(const std::string& yaml_text);
Result<Config, std::vector<ConfigError>> LoadConfigFile(const std::string& path);
// The `kafka` section alone, for tools that only publish or read (`omnigate
// send`): the rest of the file, and the secrets it takes from the
// environment, are not read.
Result<KafkaConfig, std::vector<ConfigError>> LoadKafkaConfigFile(const std::string& path);

}  // namespace omnigate::gateway
