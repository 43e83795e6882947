#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "gateway/config.h"
#include "tests/support/wait.h"

namespace omnigate::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using std::chrono::milliseconds;

constexpr const char* kTwilio = R"(
providers:
  - name: sms-main
    type: twilio
    account_sid: AC123
    auth_token: secret
    from: "+15005550006"
)";

std::vector<ConfigError> Errors(const std::string& yaml) {
  auto r = ParseConfig(yaml);
  if (r) return {};
  return r.error();
}

// The one error expected for `yaml`, as "path: message".
std::string OnlyError(const std::string& yaml) {
  const auto errors = Errors(yaml);
  if (errors.size() != 1) {
    std::string all;
    for (const auto& e : errors) all += e.ToString() + "\n";
    ADD_FAILURE() << "expected exactly one error, got " << errors.size() << ":\n" << all;
    return "";
  }
  return errors[0].ToString();
}

TEST(Config, EmptyDocumentGivesDefaults) {
  auto c = ParseConfig("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kafka.brokers, "embedded");
  EXPECT_EQ(c->kafka.topics.requests, "omnigate.requests");
  EXPECT_EQ(c->kafka.topics.requests_bulk, "omnigate.requests.bulk");
  EXPECT_EQ(c->kafka.topics.events, "omnigate.events");
  EXPECT_EQ(c->kafka.topics.dlq, "omnigate.dlq");
  // Loopback until an operator opens it (hardening #8).
  EXPECT_EQ(c->http.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->http.open_routes, (std::vector<std::string>{"/healthz", "/readyz"}));
  EXPECT_EQ(c->http.max_connections, 256);
  // The retry budget outlasts a provider restart (hardening #11): 2+4+8+16+32+60 s.
  EXPECT_EQ(c->retry.max_attempts, 7);
  EXPECT_EQ(c->retry.initial_backoff, std::chrono::seconds(2));
  EXPECT_EQ(c->pipeline.max_schedule_ahead, std::chrono::hours(24 * 30));
  EXPECT_TRUE(c->providers.empty());
}

TEST(Config, FullProviderConfigIsParsed) {
  auto c = ParseConfig(std::string(R"(
kafka:
  brokers: "k1:9092,k2:9092"
  group_id: og
  commit_interval: 250ms
  topics: {events: ev, dlq: dead}
  consumer: {security.protocol: SASL_SSL}
pipeline: {workers: 4, max_in_flight: 1000, max_in_flight_per_partition: 100, drain_timeout: 5s}
retry: {max_attempts: 3, initial_backoff: 200ms, max_backoff: 10s, multiplier: 1.5}
http: {listen: "127.0.0.1:9000", admin_token: tok}
log: {level: debug, json: yes}
providers:
  - name: sms-main
    type: twilio
    account_sid: AC123
    auth_token: secret
    messaging_service_sid: MG1
    status_callback: https://og.example/v1/receipts/sms-main
    validity_period: 10m
    timeout: 2s
    max_in_flight: 64
    http_client: curl
    circuit_breaker: {failures: 10, open_for: 5s, max_open_for: 2m}
  - name: sms-backup
    type: twilio
    account_sid: AC456
    auth_token: other
    from: "+15005550006"
routes:
  sms: [sms-backup, sms-main]
)"));
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_EQ(c->kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c->kafka.commit_interval, milliseconds(250));
  EXPECT_EQ(c->kafka.topics.events, "ev");
  EXPECT_EQ(c->kafka.topics.requests, "omnigate.requests");
  EXPECT_EQ(c->kafka.consumer_properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(c->pipeline.workers, 4);
  EXPECT_EQ(c->pipeline.drain_timeout, milliseconds(5000));
  EXPECT_DOUBLE_EQ(c->retry.multiplier, 1.5);
  EXPECT_TRUE(c->log.json);
  ASSERT_THAT(c->providers, SizeIs(2));
  const auto& t = std::get<TwilioConfig>(c->providers[0].settings);
  EXPECT_EQ(t.messaging_service_sid, "MG1");
  EXPECT_EQ(t.validity_period, milliseconds(600'000));
  EXPECT_EQ(t.http.timeout, milliseconds(2000));
  EXPECT_EQ(t.http.max_in_flight, 64);
  EXPECT_TRUE(t.http.tls_verify);
  EXPECT_EQ(t.http.http_client, http::HttpEngine::curl);
  EXPECT_EQ(std::get<TwilioConfig>(c->providers[1].settings).http.http_client,
            http::HttpEngine::automatic);
  EXPECT_EQ(c->providers[0].circuit_breaker.failures, 10);
  EXPECT_EQ(c->providers[0].circuit_breaker.open_for, milliseconds(5000));
  EXPECT_EQ(c->providers[0].circuit_breaker.max_open_for, milliseconds(120'000));
  // The defaults: five in a row, 30 s, up to 5 min.
  EXPECT_EQ(c->providers[1].circuit_breaker.failures, 5);
  EXPECT_EQ(c->providers[1].circuit_breaker.open_for, milliseconds(30'000));
  EXPECT_EQ(c->providers[1].circuit_breaker.max_open_for, milliseconds(300'000));
  EXPECT_EQ(c->routes.at(Channel::sms), (std::vector<std::string>{"sms-backup", "sms-main"}));
}

TEST(Config, RoutesDefaultToDeclarationOrder) {
  auto c = ParseConfig(std::string(kTwilio) + R"(
  - name: sms-two
    type: twilio
    account_sid: AC9
    auth_token: t
    from: Shop
)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->routes.at(Channel::sms), (std::vector<std::string>{"sms-main", "sms-two"}));
}

TEST(Config, UnknownKeyIsReportedWithPathAndSuggestion) {
  const auto e = OnlyError("kafka:\n  brokres: embedded\n");
  EXPECT_THAT(e, HasSubstr("kafka.brokres: unknown key 'brokres'; did you mean 'brokers'?"));
  EXPECT_THAT(e, HasSubstr("Accepted: brokers, embedded"));
}

TEST(Config, KafkaCompressionIsLz4UnlessSetAndListsTheCodecsWhenWrong) {
  EXPECT_EQ(ParseConfig("")->kafka.compression, "lz4");
  EXPECT_EQ(ParseConfig("kafka:\n  compression: gzip\n")->kafka.compression, "gzip");
  EXPECT_EQ(ParseConfig("kafka:\n  compression: none\n")->kafka.compression, "none");
  const auto e = OnlyError("kafka:\n  compression: brotli\n");
  EXPECT_THAT(e, HasSubstr("kafka.compression: unknown codec 'brotli'; accepted: none, gzip, "
                           "snappy, lz4, zstd"));
  EXPECT_THAT(e, HasSubstr("kafkajs"));
}

TEST(Config, ProducerCompressionPropertiesPointToKafkaCompression) {
  EXPECT_EQ(OnlyError("kafka:\n  producer:\n    compression.type: gzip\n"),
            "kafka.producer.compression.type: set kafka.compression instead");
  EXPECT_EQ(OnlyError("kafka:\n  producer:\n    compression.codec: none\n"),
            "kafka.producer.compression.codec: set kafka.compression instead");
}

TEST(Config, UnknownProviderKeyHasIndexedPath) {
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    timout: 3s\n"),
              HasSubstr("providers[0].timout: unknown key 'timout'; did you mean 'timeout'?"));
}

TEST(Config, UnknownHttpClientNamesTheAcceptedOnes) {
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    http_client: libcurl\n"),
              HasSubstr("providers[0].http_client: unknown client 'libcurl'; accepted: auto, curl, "
                        "native"));
}

TEST(Config, UnknownTopLevelKey) {
  EXPECT_THAT(OnlyError("kafkaa: {}\n"), HasSubstr("kafkaa: unknown key"));
}

TEST(Config, EveryErrorIsReportedNotOnlyTheFirst) {
  const auto errors = Errors(R"(
pipeline: {workers: zero, drain_timeout: soon}
retry: {multiplier: 50}
log: {level: loud}
)");
  ASSERT_THAT(errors, SizeIs(4));
  EXPECT_EQ(errors[0].path, "pipeline.workers");
  EXPECT_THAT(errors[0].message, HasSubstr("expected an integer, got 'zero'"));
  EXPECT_EQ(errors[1].path, "pipeline.drain_timeout");
  EXPECT_THAT(errors[1].message, HasSubstr("expected a duration"));
  EXPECT_EQ(errors[2].path, "retry.multiplier");
  EXPECT_THAT(errors[2].message, HasSubstr("must be between"));
  EXPECT_EQ(errors[3].path, "log.level");
  EXPECT_THAT(errors[3].message, HasSubstr("unknown level 'loud'"));
}

TEST(Config, OutOfRangeValues) {
  EXPECT_THAT(OnlyError("pipeline: {workers: 0}\n"),
              HasSubstr("pipeline.workers: must be between 1 and 256, got 0"));
  EXPECT_THAT(OnlyError("kafka: {commit_interval: 2m}\n"),
              HasSubstr("kafka.commit_interval: must be between 1ms and 1m"));
  EXPECT_THAT(OnlyError("retry: {initial_backoff: 5s, max_backoff: 1s}\n"),
              HasSubstr("retry.max_backoff: must not be below retry.initial_backoff"));
  EXPECT_THAT(OnlyError("pipeline: {max_in_flight: 10, max_in_flight_per_partition: 20}\n"),
              HasSubstr("must not exceed pipeline.max_in_flight"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) +
                        "    circuit_breaker: {open_for: 1m, max_open_for: 10s}\n"),
              HasSubstr("providers[0].circuit_breaker.max_open_for: must not be shorter than "
                        "open_for"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    circuit_breaker: {failures: -1}\n"),
              HasSubstr("providers[0].circuit_breaker.failures: must be between 0"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    circuit_breaker: {failure: 3}\n"),
              HasSubstr("providers[0].circuit_breaker.failure"));
}

TEST(Config, WrongShapes) {
  EXPECT_THAT(OnlyError("kafka: [1, 2]\n"), HasSubstr("kafka: expected a mapping"));
  EXPECT_THAT(OnlyError("providers: {name: x}\n"), HasSubstr("providers: expected a list"));
  EXPECT_THAT(OnlyError("log: {json: maybe}\n"),
              HasSubstr("log.json: expected true or false, got 'maybe'"));
  EXPECT_THAT(OnlyError("kafka: {group_id: [a]}\n"), HasSubstr("kafka.group_id: expected a string"));
  EXPECT_THAT(OnlyError("http: {listen: localhost}\n"),
              HasSubstr("http.listen: expected host:port"));
}

TEST(Config, YamlSyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(OnlyError("kafka:\n  brokers: [unclosed\n"), HasSubstr("YAML syntax error at line"));
}

TEST(Config, ProviderErrors) {
  EXPECT_THAT(OnlyError("providers:\n  - {name: x, type: carrier-pigeon}\n"),
              HasSubstr("providers[0].type: unknown type 'carrier-pigeon'"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: Bad_Name, type: twilio, account_sid: A, "
                        "auth_token: t, from: x}\n"),
              HasSubstr("providers[0].name: required: 1-64 characters"));
  const auto missing = Errors("providers:\n  - {name: s, type: twilio}\n");
  ASSERT_THAT(missing, SizeIs(3));
  EXPECT_EQ(missing[0].ToString(), "providers[0].account_sid: required for type twilio");
  EXPECT_THAT(missing[1].ToString(), HasSubstr("providers[0].auth_token: required"));
  EXPECT_THAT(missing[2].ToString(),
              HasSubstr("providers[0]: set exactly one of 'from' and 'messaging_service_sid'"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    base_url: ftp://x\n"),
              HasSubstr("providers[0].base_url: must start with https:// or http://"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    channel: email\n"),
              HasSubstr("providers[0].channel: type twilio sends sms, not email"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "    validity_period: 11h\n"),
              HasSubstr("providers[0].validity_period: must be between"));
}

TEST(Config, DuplicateProviderNames) {
  EXPECT_THAT(OnlyError(std::string(kTwilio) + R"(
  - name: sms-main
    type: twilio
    account_sid: AC2
    auth_token: t
    from: x
)"),
              HasSubstr("providers[1].name: duplicate provider name 'sms-main'"));
}

TEST(Config, RouteErrors) {
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "routes: {sms: [sms-nope]}\n"),
              HasSubstr("routes.sms[0]: no provider named 'sms-nope'"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "routes: {email: [sms-main]}\n"),
              HasSubstr("routes.email[0]: provider 'sms-main' sends sms, not email"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "routes: {fax: [sms-main]}\n"),
              HasSubstr("routes.fax: unknown key 'fax'"));
}

TEST(Config, EnvironmentSubstitution) {
  ::setenv("OG_TEST_TOKEN", "from-env", 1);
  ::unsetenv("OG_TEST_UNSET");
  auto c = ParseConfig(R"(
kafka: {group_id: "${OG_TEST_UNSET:-fallback}-g"}
http: {admin_token: "$${literal}"}
providers:
  - {name: s, type: twilio, account_sid: AC1, auth_token: "${OG_TEST_TOKEN}", from: x}
)");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_EQ(std::get<TwilioConfig>(c->providers[0].settings).auth_token, "from-env");
  EXPECT_EQ(c->kafka.group_id, "fallback-g");
  EXPECT_EQ(c->http.admin_token, "${literal}");
}

TEST(Config, UnsetEnvironmentVariableIsAnErrorThatDoesNotEchoTheValue) {
  ::unsetenv("OG_TEST_MISSING");
  const auto e = OnlyError(
      "providers:\n  - {name: s, type: twilio, account_sid: AC1, "
      "auth_token: \"pre-secret-${OG_TEST_MISSING}\", from: x}\n");
  EXPECT_THAT(e, HasSubstr("providers[0].auth_token: environment variable OG_TEST_MISSING is "
                           "not set"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("pre-secret")));
  EXPECT_THAT(OnlyError("kafka: {group_id: \"${OPEN\"}\n"),
              HasSubstr("kafka.group_id: unterminated ${"));
}

TEST(Config, SecretFromFile) {
  testing::TempDir dir;
  {
    std::ofstream(dir.File("token")) << "file-secret\n";
  }
  auto c = ParseConfig("providers:\n  - {name: s, type: twilio, account_sid: AC1, "
                       "auth_token_file: " + dir.File("token") + ", from: x}\n");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_EQ(std::get<TwilioConfig>(c->providers[0].settings).auth_token, "file-secret");

  EXPECT_THAT(Errors("providers:\n  - {name: s, type: twilio, account_sid: AC1, "
                     "auth_token_file: " + dir.File("absent") + ", from: x}\n")[0].ToString(),
              HasSubstr("providers[0].auth_token_file: cannot read"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: s, type: twilio, account_sid: AC1, "
                        "auth_token: a, auth_token_file: " + dir.File("token") + ", from: x}\n"),
              HasSubstr("set auth_token or auth_token_file, not both"));
}

TEST(Config, LoadConfigFileReportsMissingFile) {
  auto r = LoadConfigFile("/nonexistent/omnigate.yaml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error()[0].ToString(), HasSubstr("cannot open '/nonexistent/omnigate.yaml'"));
}

// Hardening #11: check-config accepted each of these and `run` then failed or
// ran a gateway nobody configured.
TEST(Config, LoadConfigFileRefusesADirectoryAndAnEmptyFile) {
  testing::TempDir dir;
  auto r = LoadConfigFile(dir.path());
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error()[0].ToString(), HasSubstr("is a directory"));
  {
    std::ofstream(dir.File("empty.yaml")) << "\n  \n";
  }
  r = LoadConfigFile(dir.File("empty.yaml"));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error()[0].ToString(), HasSubstr("is empty"));
}

TEST(Config, EmptySecretIsAnError) {
  ::unsetenv("OG_TEST_UNSET");
  EXPECT_THAT(OnlyError("providers:\n  - {name: s, type: twilio, account_sid: AC1, "
                        "auth_token: \"${OG_TEST_UNSET:-}\", from: x}\n"),
              HasSubstr("providers[0].auth_token: is empty"));
  EXPECT_THAT(OnlyError("http: {admin_token: \"${OG_TEST_UNSET:-}\"}\n"),
              HasSubstr("http.admin_token: is empty"));
  testing::TempDir dir;
  {
    std::ofstream(dir.File("token")) << "\n";
  }
  EXPECT_THAT(OnlyError("providers:\n  - {name: s, type: twilio, account_sid: AC1, "
                        "auth_token_file: " + dir.File("token") + ", from: x}\n"),
              HasSubstr("providers[0].auth_token_file: '" + dir.File("token") + "' is empty"));
}

TEST(Config, UnknownOrInvalidLibrdkafkaPropertiesAreReportedWithTheirPath) {
  EXPECT_THAT(OnlyError("kafka: {consumer: {session.timeout.msec: \"6000\"}}\n"),
              HasSubstr("kafka.consumer.session.timeout.msec: unknown librdkafka property"));
  EXPECT_THAT(OnlyError("kafka: {producer: {acks: sometimes}}\n"),
              HasSubstr("kafka.producer.acks: "));
  EXPECT_THAT(OnlyError("kafka: {consumer: {enable.partition.eof: maybe}}\n"),
              HasSubstr("kafka.consumer.enable.partition.eof: "));
  EXPECT_TRUE(ParseConfig("kafka: {consumer: {session.timeout.ms: \"6000\"}, producer: "
                          "{linger.ms: \"5\", message.max.bytes: \"2000000\"}}\n"));
}

TEST(Config, OpenRoutesAcceptOnlyProbesAndMetrics) {
  auto c = ParseConfig("http: {open_routes: [/healthz, /metrics], max_connections: 64, "
                       "idle_timeout: 5s}\n");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_EQ(c->http.open_routes, (std::vector<std::string>{"/healthz", "/metrics"}));
  EXPECT_EQ(c->http.max_connections, 64);
  EXPECT_EQ(c->http.idle_timeout, std::chrono::seconds(5));
  EXPECT_THAT(OnlyError("http: {open_routes: [/v1/messages]}\n"),
              HasSubstr("http.open_routes[0]: '/v1/messages' cannot be opened"));
  EXPECT_THAT(OnlyError("http: {max_connections: 0}\n"), HasSubstr("http.max_connections"));
  EXPECT_THAT(OnlyError("pipeline: {max_schedule_ahead: 400d}\n"),
              HasSubstr("pipeline.max_schedule_ahead"));
}

constexpr const char* kAllChannels = R"(
providers:
  - name: email-sg
    type: sendgrid
    api_key: SG.key
    from: "Shop <noreply@shop.example>"
    category: omnigate
  - name: email-smtp
    type: smtp
    url: smtp://mail.example:587
    username: shop
    password: pw
    from: noreply@shop.example
  - name: viber-main
    type: viber
    auth_token: vt
    sender_name: Shop
    min_api_version: 7
  - name: push
    type: webpush
    vapid_private_key: ntAYJDLu3OonM8yfVIdUH9zf6BWLZ4atdF7Eo_10wzs
    vapid_subject: mailto:ops@shop.example
    jwt_lifetime: 6h
  - name: sms-agg
    type: http
    channel: sms
    url: "https://agg.example/send?to={{to|url}}"
    headers: {Authorization: "Bearer k", X-Ref: "{{id}}"}
    body: '{"text":{{text|json}}}'
    success: {status: [200], json_pointer: /status, equals: ok}
    message_id: {json_pointer: /id}
    invalid_address_regex: invalid_number
routes:
  email: [email-smtp, email-sg]
)";

TEST(Config, EveryProviderTypeIsParsed) {
  auto c = ParseConfig(kAllChannels);
  ASSERT_TRUE(c) << c.error()[0].ToString();
  ASSERT_THAT(c->providers, SizeIs(5));
  EXPECT_EQ(c->providers[0].channel, Channel::email);
  EXPECT_EQ(std::get<SendGridConfig>(c->providers[0].settings).api_key, "SG.key");
  const auto& smtp = std::get<SmtpConfig>(c->providers[1].settings);
  EXPECT_EQ(smtp.url, "smtp://mail.example:587");
  EXPECT_TRUE(smtp.starttls);
  EXPECT_EQ(smtp.from_default, "noreply@shop.example");
  EXPECT_EQ(c->providers[2].channel, Channel::viber);
  EXPECT_EQ(std::get<ViberConfig>(c->providers[2].settings).min_api_version, 7);
  EXPECT_EQ(c->providers[3].channel, Channel::webpush);
  EXPECT_EQ(std::get<WebPushConfig>(c->providers[3].settings).jwt_lifetime,
            std::chrono::hours(6));
  EXPECT_EQ(c->providers[4].channel, Channel::sms);
  const auto& g = std::get<GenericHttpConfig>(c->providers[4].settings);
  EXPECT_EQ(g.channel, Channel::sms);
  EXPECT_EQ(g.headers.size(), 2u);
  EXPECT_EQ(g.success_status, std::vector<int>{200});
  EXPECT_EQ(g.success_equals, "ok");
  EXPECT_EQ(g.message_id_json_pointer, "/id");
  EXPECT_EQ(c->routes.at(Channel::email), (std::vector<std::string>{"email-smtp", "email-sg"}));
  EXPECT_EQ(c->routes.at(Channel::webpush), std::vector<std::string>{"push"});
}

TEST(Config, KeysOfAnotherProviderTypeAreUnknown) {
  EXPECT_THAT(OnlyError("providers:\n  - {name: e, type: sendgrid, api_key: k, account_sid: A}\n"),
              HasSubstr("providers[0].account_sid: unknown key 'account_sid'"));
}

TEST(Config, ProviderTypeSpecificErrors) {
  EXPECT_THAT(OnlyError("providers:\n  - {name: e, type: sendgrid}\n"),
              HasSubstr("providers[0].api_key: required for type sendgrid (or api_key_file)"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: e, type: sendgrid, api_key: k, from: 'no at'}\n"),
              HasSubstr("providers[0].from: expected 'Name <address>' or an address"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: e, type: smtp, url: 'http://mail:25'}\n"),
              HasSubstr("providers[0].url: must be smtp://host:port"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: e, type: smtp, url: 'smtp://m:25', username: u}\n"),
              HasSubstr("providers[0].password: required when username is set"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: v, type: viber, auth_token: t, "
                        "sender_name: 'A very long sender name indeed!'}\n"),
              HasSubstr("providers[0].sender_name: Viber allows at most 28 characters"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: v, type: viber, auth_token: t}\n"),
              HasSubstr("providers[0].sender_name: required for type viber"));
  const auto push = Errors("providers:\n  - {name: p, type: webpush, vapid_private_key: nope!, "
                           "vapid_subject: ops@example.com}\n");
  ASSERT_THAT(push, SizeIs(2));
  EXPECT_THAT(push[0].ToString(), HasSubstr("providers[0].vapid_private_key: not a base64url"));
  EXPECT_THAT(push[0].ToString(), ::testing::Not(HasSubstr("nope!")));
  EXPECT_THAT(push[1].ToString(), HasSubstr("providers[0].vapid_subject: must be a mailto:"));
}

// destination_allowlist: networks web push endpoints (and generic URLs
// with a field in the host) may reach besides the public internet; a bad
// entry is reported at its own key path.
TEST(Config, DestinationAllowlistIsParsedAndBadNetworksNameTheirKey) {
  const std::string push = "providers:\n  - {name: p, type: webpush, vapid_private_key: "
                           "ntAYJDLu3OonM8yfVIdUH9zf6BWLZ4atdF7Eo_10wzs, vapid_subject: "
                           "mailto:ops@shop.example, destination_allowlist: ";
  auto c = ParseConfig(push + "['127.0.0.0/8', '::1', 'fd00::/8']}\n");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  const auto& allow = std::get<WebPushConfig>(c->providers[0].settings).http.destination_allowlist;
  ASSERT_THAT(allow, SizeIs(3));
  EXPECT_EQ(allow[0].ToString(), "127.0.0.0/8");
  EXPECT_EQ(allow[1].ToString(), "::1/128");
  EXPECT_EQ(allow[2].ToString(), "fd00::/8");
  EXPECT_THAT(OnlyError(push + "['127.0.0.0/8', '10.0.0.0/33']}\n"),
              HasSubstr("providers[0].destination_allowlist[1]: '10.0.0.0/33': prefix length "
                        "must be 0-32"));
  EXPECT_THAT(OnlyError(push + "['localhost']}\n"),
              HasSubstr("providers[0].destination_allowlist[0]: 'localhost' is not an IP network"));
  EXPECT_THAT(OnlyError(push + "'127.0.0.0/8'}\n"),
              HasSubstr("providers[0].destination_allowlist: expected a list of networks"));
}

// A raw field in a generic provider's URL is allowed only when asked for,
// and check-config then warns about it.
TEST(Config, RawFieldInAGenericUrlIsAWarning) {
  auto c = ParseConfig("providers:\n  - {name: g, type: http, channel: sms, "
                       "url: 'https://a/{{id|raw}}?to={{to}}'}\n");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  ASSERT_THAT(c->warnings, SizeIs(1));
  EXPECT_THAT(c->warnings[0].ToString(),
              HasSubstr("providers[0].url: {{id|raw}} puts the request's id into the URL unencoded"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, "
                        "url: 'https://a/?to={{to|json}}'}\n"),
              HasSubstr("providers[0].url: {{to|json}} does not encode for a URL"));
  auto clean = ParseConfig("providers:\n  - {name: g, type: http, channel: sms, "
                           "url: 'https://a/{{id}}'}\n");
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->warnings.empty());
}

TEST(Config, GenericHttpProviderErrorsNameTheirKey) {
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, url: 'https://a/'}\n"),
              HasSubstr("providers[0].channel: required for type http"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, "
                        "url: 'https://a/{{phone}}'}\n"),
              HasSubstr("providers[0].url: unknown field 'phone' in {{...}}"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, url: 'https://a/', "
                        "body: '{{text|base64}}'}\n"),
              HasSubstr("providers[0].body: unknown filter 'base64'"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, url: 'https://a/', "
                        "message_id: {regex: 'id=\\w+'}}\n"),
              HasSubstr("providers[0].message_id.regex: needs a capture group"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, url: 'https://a/', "
                        "success: {regex: '(unclosed'}}\n"),
              HasSubstr("providers[0].success.regex: invalid regular expression"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, url: 'https://a/', "
                        "method: PATCH}\n"),
              HasSubstr("providers[0].method: expected GET, POST or PUT, got 'PATCH'"));
  EXPECT_THAT(OnlyError("providers:\n  - {name: g, type: http, channel: sms, url: 'https://a/', "
                        "success: {status: [200, 999]}}\n"),
              HasSubstr("providers[0].success.status[1]: must be between 100 and 599"));
}

// A generic provider's receipts mapping, as an aggregator (and the mock
// provider) would need it.
constexpr const char* kGenericWithReceipts = R"(
providers:
  - name: sms-main
    type: twilio
    account_sid: AC123
    auth_token: secret
    from: "+15005550006"
  - name: aggregator
    type: http
    channel: sms
    url: "https://agg.example/send"
    receipts:
      message_id: /message_id
      status: /status
      error_code: /err
      event_id: /event_id
      statuses: {DELIVRD: delivered, UNDELIV: undelivered, REJECTD: failed, "0": read, STOP: unsubscribed}
      signature:
        header: X-Signature
        algorithm: hmac-sha256
        encoding: hex
        secret: ${OMNIGATE_TEST_AGG_SECRET}
)";

// `yaml` with the receipts block of kGenericWithReceipts replaced by `receipts`
// (indented under the provider).
std::string GenericReceipts(const std::string& receipts) {
  const std::string base(kGenericWithReceipts);
  return base.substr(0, base.find("    receipts:\n")) + receipts;
}

TEST(Config, GenericReceiptMappingIsParsed) {
  ::setenv("OMNIGATE_TEST_AGG_SECRET", "s3cret", 1);
  auto c = ParseConfig(kGenericWithReceipts);
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_TRUE(c->warnings.empty());
  const auto& g = std::get<GenericHttpConfig>(c->providers[1].settings);
  ASSERT_TRUE(g.receipts.has_value());
  const auto& m = *g.receipts;
  using Mapping = providers::GenericReceiptMapping;
  EXPECT_EQ(m.format, Mapping::Format::json);
  EXPECT_EQ(m.message_id, "/message_id");
  EXPECT_EQ(m.status, "/status");
  EXPECT_EQ(m.error_code, "/err");
  EXPECT_EQ(m.event_id, "/event_id");
  using providers::ReceiptStatus;
  const std::vector<std::pair<std::string, ReceiptStatus>> statuses = {
      {"DELIVRD", ReceiptStatus::delivered},
      {"UNDELIV", ReceiptStatus::undelivered},
      {"REJECTD", ReceiptStatus::failed},
      {"0", ReceiptStatus::read},
      {"STOP", ReceiptStatus::unsubscribed}};
  EXPECT_EQ(m.statuses, statuses);
  EXPECT_EQ(m.signature_header, "X-Signature");
  EXPECT_EQ(m.algorithm, Mapping::Algorithm::hmac_sha256);
  EXPECT_EQ(m.encoding, Mapping::Encoding::hex);
  EXPECT_EQ(m.secret, "s3cret");
  EXPECT_FALSE(m.allow_unsigned);
  // A generic provider without the key takes no receipts.
  EXPECT_FALSE(std::get<GenericHttpConfig>(ParseConfig("providers:\n  - {name: g, type: http, "
                                                       "channel: sms, url: 'https://a/'}\n")
                                               ->providers[0]
                                               .settings)
                   .receipts.has_value());

  const std::string secret_file = ::testing::TempDir() + "/agg_webhook_secret";
  std::ofstream(secret_file) << "from-a-file\n";
  c = ParseConfig(GenericReceipts(R"(    receipts:
      format: form
      message_id: MsgId
      status: Stat
      statuses: {ok: delivered}
      signature: {header: X-Sig, algorithm: hmac-sha1, encoding: base64, secret_file: ')" +
                                  secret_file + "'}\n"));
  ASSERT_TRUE(c) << c.error()[0].ToString();
  const auto& f = *std::get<GenericHttpConfig>(c->providers[1].settings).receipts;
  EXPECT_EQ(f.format, Mapping::Format::form);
  EXPECT_EQ(f.message_id, "MsgId");
  EXPECT_EQ(f.algorithm, Mapping::Algorithm::hmac_sha1);
  EXPECT_EQ(f.encoding, Mapping::Encoding::base64);
  EXPECT_EQ(f.secret, "from-a-file");

  // Unsigned is allowed when asked for, and check-config says what it costs.
  c = ParseConfig(GenericReceipts(R"(    receipts:
      message_id: /id
      status: /status
      statuses: {DELIVRD: delivered}
      allow_unsigned: true
)"));
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_TRUE(std::get<GenericHttpConfig>(c->providers[1].settings).receipts->allow_unsigned);
  ASSERT_THAT(c->warnings, SizeIs(1));
  EXPECT_THAT(c->warnings[0].ToString(),
              HasSubstr("providers[1].receipts.allow_unsigned: receipts are taken without a "
                        "signature"));
}

TEST(Config, GenericReceiptMappingErrorsNameTheirKey) {
  ::setenv("OMNIGATE_TEST_AGG_SECRET", "s3cret", 1);
  const std::string head = R"(    receipts:
      message_id: /id
      status: /status
)";
  const std::string signature = "      signature: {header: X-Signature, secret: k}\n";
  EXPECT_THAT(
      OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: deliverd}\n" + signature)),
      HasSubstr("providers[1].receipts.statuses.DELIVRD: 'deliverd' is not a status; one "
                "of sent, delivered, read, undelivered, failed, opened, clicked, "
                "unsubscribed, complained"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {header: X-Signature, secret: k, "
                                        "algorithm: hmac-md5}\n")),
              HasSubstr("providers[1].receipts.signature.algorithm: unknown algorithm 'hmac-md5'; "
                        "accepted: hmac-sha256, hmac-sha1"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {header: X-Signature, secret: k, "
                                        "encoding: base32}\n")),
              HasSubstr("providers[1].receipts.signature.encoding: unknown encoding 'base32'"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n")),
              HasSubstr("providers[1].receipts.signature: required: how the provider signs"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        signature + "      allow_unsigned: true\n")),
              HasSubstr("providers[1].receipts.allow_unsigned: set signature or allow_unsigned: "
                        "true, not both"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        signature + "      event_idd: /event_id\n")),
              HasSubstr("providers[1].receipts.event_idd: unknown key 'event_idd'; did you mean "
                        "'event_id'?"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {header: X-Signature, secret: k, "
                                        "key: k}\n")),
              HasSubstr("providers[1].receipts.signature.key: unknown key 'key'"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {secret: k}\n")),
              HasSubstr("providers[1].receipts.signature.header: required"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {header: X-Signature}\n")),
              HasSubstr("providers[1].receipts.signature.secret: required (or secret_file)"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {DELIVRD: delivered}\n" +
                                        "      signature: {header: X-Signature, "
                                        "secret: '${OMNIGATE_TEST_UNSET_SECRET}'}\n")),
              HasSubstr("providers[1].receipts.signature.secret: environment variable "
                        "OMNIGATE_TEST_UNSET_SECRET is not set"));
  EXPECT_THAT(OnlyError(GenericReceipts(head + "      statuses: {}\n" + signature)),
              HasSubstr("providers[1].receipts.statuses: required"));
  EXPECT_THAT(OnlyError(GenericReceipts("    receipts:\n      status: /status\n"
                                        "      statuses: {DELIVRD: delivered}\n" +
                                        signature)),
              HasSubstr("providers[1].receipts.message_id: required"));
  EXPECT_THAT(OnlyError(GenericReceipts("    receipts:\n      message_id: id\n"
                                        "      status: /status\n"
                                        "      statuses: {DELIVRD: delivered}\n" +
                                        signature)),
              HasSubstr("providers[1].receipts.message_id: 'id' is not a JSON pointer"));
  EXPECT_THAT(OnlyError(GenericReceipts("    receipts:\n      format: form\n"
                                        "      message_id: id\n      status: /status\n"
                                        "      statuses: {DELIVRD: delivered}\n" +
                                        signature)),
              HasSubstr("providers[1].receipts.status: '/status' is a JSON pointer; format form "
                        "names a field"));
  EXPECT_THAT(OnlyError(GenericReceipts(head +
                                        "      format: xml\n"
                                        "      statuses: {DELIVRD: delivered}\n" +
                                        signature)),
              HasSubstr("providers[1].receipts.format: unknown format 'xml'; accepted: json, "
                        "form"));
  // Receipts belong to the generic type only.
  EXPECT_THAT(OnlyError("providers:\n  - {name: v, type: viber, auth_token: t, sender_name: S, "
                        "receipts: {}}\n"),
              HasSubstr("providers[0].receipts: unknown key 'receipts'"));
}

TEST(Config, ShippedExamplesAreValid) {
  ::setenv("TWILIO_ACCOUNT_SID", "ACexample", 0);
  ::setenv("TWILIO_AUTH_TOKEN", "example", 0);
  ::setenv("OMNIGATE_ADMIN_TOKEN", "example", 0);
  ::setenv("REDIS_PASSWORD", "example", 0);
  for (const char* name : {"omnigate.yaml", "omnigate-embedded.yaml"}) {
    const std::string path = std::string(OMNIGATE_SOURCE_DIR) + "/examples/" + name;
    auto r = LoadConfigFile(path);
    std::string all;
    if (!r) {
      for (const auto& e : r.error()) all += e.ToString() + "\n";
    }
    EXPECT_TRUE(r) << path << ":\n" << all;
  }
}

}  // namespace
}  // namespace omnigate::gateway

namespace omnigate::gateway {
namespace {

TEST(Config, StateAndPolicyDefaults) {
  auto c = ParseConfig(kTwilio);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state.backend, "embedded");
  EXPECT_EQ(c->state.path, "/var/lib/omnigate/state");
  EXPECT_TRUE(c->policy.enabled);
  EXPECT_EQ(c->policy.defaults.dedup_window, std::chrono::hours(24));
  EXPECT_FALSE(c->policy.defaults.content_dedup);
  EXPECT_FALSE(c->policy.defaults.bulk_requires_opt_in);
  EXPECT_TRUE(c->policy.defaults.frequency_caps.empty());
}

TEST(Config, TenantsInheritTheDefaultsAndOverrideWhatTheySet) {
  auto c = ParseConfig(std::string(kTwilio) + R"(
state: {backend: redis, redis: {host: 127.0.0.1, port: 6380, command_timeout: 500ms}}
policy:
  defaults:
    dedup_window: 12h
    frequency_caps:
      - {channel: all, lanes: bulk, limits: [1/1h, 3/24h]}
  tenants:
    shop-ro:
      content_dedup: true
      bulk_requires_opt_in: true
    otp-svc:
      dedup_window: 5m
      frequency_caps: []
)");
  ASSERT_TRUE(c) << c.error()[0].ToString();
  EXPECT_EQ(c->state.backend, "redis");
  EXPECT_EQ(c->state.redis.port, 6380);
  EXPECT_EQ(c->state.redis.command_timeout, milliseconds(500));
  const auto& shop = c->policy.For("shop-ro");
  EXPECT_EQ(shop.dedup_window, std::chrono::hours(12));
  EXPECT_TRUE(shop.content_dedup);
  EXPECT_TRUE(shop.bulk_requires_opt_in);
  ASSERT_THAT(shop.frequency_caps, SizeIs(1));
  EXPECT_FALSE(shop.frequency_caps[0].channel.has_value());
  ASSERT_THAT(shop.frequency_caps[0].limits, SizeIs(2));
  EXPECT_EQ(shop.frequency_caps[0].limits[1].limit, 3);
  EXPECT_EQ(shop.frequency_caps[0].limits[1].window, std::chrono::hours(24));
  EXPECT_EQ(c->policy.For("otp-svc").dedup_window, std::chrono::minutes(5));
  EXPECT_TRUE(c->policy.For("otp-svc").frequency_caps.empty());
  EXPECT_EQ(&c->policy.For("anyone-else"), &c->policy.defaults);
}

TEST(Config, PolicyAndStateErrorsNameTheirPath) {
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "state: {backend: rocks}"),
              HasSubstr("state.backend: unknown backend 'rocks'; accepted: embedded, redis"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "state: {redis: {port: 0}}"),
              HasSubstr("state.redis.port: must be between 1 and 65535"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "policy: {defaults: {dedup_window: 0s}}"),
              HasSubstr("policy.defaults.dedup_window: must be between"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) +
                        "policy: {tenants: {shop: {frequency_caps: [{channel: fax, limits: [1/1h]}]}}}"),
              HasSubstr("policy.tenants.shop.frequency_caps[0].channel: unknown channel 'fax'"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) +
                        "policy: {defaults: {frequency_caps: [{limits: [1 per hour]}]}}"),
              HasSubstr("policy.defaults.frequency_caps[0].limits[0]: expected COUNT/WINDOW"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) +
                        "policy: {defaults: {frequency_caps: [{channel: sms}]}}"),
              HasSubstr("policy.defaults.frequency_caps[0].limits: required"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) +
                        "policy: {defaults: {frequency_caps: [{lanes: otp, limits: [1/1h]}]}}"),
              HasSubstr("policy.defaults.frequency_caps[0].lanes: expected bulk, transactional or all"));
  EXPECT_THAT(OnlyError(std::string(kTwilio) + "policy: {defaults: {bulk_requires_optin: true}}"),
              HasSubstr("did you mean 'bulk_requires_opt_in'?"));
}

}  // namespace
}  // namespace omnigate::gateway
