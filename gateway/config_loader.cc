// YAML → Config. Walks the document once, collecting every problem with its
// key path instead of stopping at the first.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "gateway/config.h"
#include "providers/sendgrid/sendgrid_receipt.h"
#include "gateway/policy/quiet_hours.h"
#include "queue/kafka_properties.h"
#include "providers/generic/generic_provider.h"
#include "providers/mailbox.h"
#include "providers/webpush/webpush_crypto.h"

namespace omnigate::gateway {
namespace {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Walker {
 public:
  Walker(std::vector<ConfigError>& errors, std::vector<ConfigError>& warnings)
      : errors_(errors), warnings_(warnings) {}
  std::size_t error_count() const { return errors_.size(); }

  void Error(const std::string& path, std::string message) {
    errors_.push_back({path, std::move(message)});
  }
  // Valid, but worth an operator's second look (check-config prints it).
  void Warn(const std::string& path, std::string message) {
    warnings_.push_back({path, std::move(message)});
  }

  static std::string Sub(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // The node must be a map (or absent); reports keys outside `accepted`.
  bool Map(const YAML::Node& n, const std::string& path, const std::vector<std::string>& accepted) {
    if (!n || n.IsNull()) return false;
    if (!n.IsMap()) {
      Error(path, "expected a mapping of keys to values");
      return false;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>("");
      if (std::find(accepted.begin(), accepted.end(), key) != accepted.end()) continue;
      std::string msg = "unknown key '" + key + "'";
      std::string best;
      std::size_t best_d = 3;
      for (const auto& a : accepted) {
        const auto d = EditDistance(key, a);
        if (d < best_d) {
          best_d = d;
          best = a;
        }
      }
      if (!best.empty()) msg += "; did you mean '" + best + "'?";
      msg += " Accepted: " + Join(accepted);
      Error(Sub(path, key), msg);
    }
    return true;
  }

  // ${NAME}, ${NAME:-default}; $${ is a literal ${. The error never echoes the
  // value itself: it may hold secrets around the reference.
  bool Expand(const std::string& in, const std::string& path, std::string& out) {
    out.clear();
    bool ok = true;
    for (std::size_t i = 0; i < in.size();) {
      if (in.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
        continue;
      }
      if (in.compare(i, 2, "${") == 0) {
        const auto close = in.find('}', i + 2);
        if (close == std::string::npos) {
          Error(path, "unterminated ${ in value");
          return false;
        }
        std::string ref = in.substr(i + 2, close - i - 2);
        std::string fallback;
        bool has_fallback = false;
        if (const auto d = ref.find(":-"); d != std::string::npos) {
          fallback = ref.substr(d + 2);
          ref = ref.substr(0, d);
          has_fallback = true;
        }
        const char* v = std::getenv(ref.c_str());
        if (v != nullptr && (*v != '\0' || !has_fallback)) {
          out += v;
        } else if (has_fallback) {
          out += fallback;
        } else {
          Error(path, "environment variable " + ref + " is not set");
          ok = false;
        }
        i = close + 1;
        continue;
      }
      out += in[i++];
    }
    return ok;
  }

  void Str(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n) return;
    if (!n.IsScalar()) {
      Error(path, "expected a string");
      return;
    }
    std::string expanded;
    if (Expand(n.Scalar(), path, expanded)) out = std::move(expanded);
  }

  void Int(const YAML::Node& n, const std::string& path, int& out, int lo, int hi) {
    if (!n) return;
    std::string s;
    if (!n.IsScalar() || !Expand(n.Scalar(), path, s)) {
      if (!n.IsScalar()) Error(path, "expected an integer");
      return;
    }
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0) {
      Error(path, "expected an integer, got '" + s + "'");
    } else if (v < lo || v > hi) {
      Error(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                      ", got " + s);
    } else {
      out = static_cast<int>(v);
    }
  }

  void Double(const YAML::Node& n, const std::string& path, double& out, double lo, double hi) {
    if (!n) return;
    std::string s;
    if (!n.IsScalar() || !Expand(n.Scalar(), path, s)) {
      if (!n.IsScalar()) Error(path, "expected a number");
      return;
    }
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') {
      Error(path, "expected a number, got '" + s + "'");
    } else if (v < lo || v > hi) {
      Error(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    } else {
      out = v;
    }
  }

  void Bool(const YAML::Node& n, const std::string& path, bool& out) {
    if (!n) return;
    std::string s;
    if (!n.IsScalar() || !Expand(n.Scalar(), path, s)) {
      if (!n.IsScalar()) Error(path, "expected true or false");
      return;
    }
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      out = false;
    } else {
      Error(path, "expected true or false, got '" + s + "'");
    }
  }

  void Duration(const YAML::Node& n, const std::string& path, std::chrono::milliseconds& out,
                std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
    if (!n) return;
    std::string s;
    if (!n.IsScalar() || !Expand(n.Scalar(), path, s)) {
      if (!n.IsScalar()) Error(path, "expected a duration like 250ms, 10s, 5m, 1h, 1d");
      return;
    }
    auto d = ParseDuration(s);
    if (!d) {
      Error(path, "expected a duration like 250ms, 10s, 5m, 1h, 1d; got '" + s + "'");
    } else if (*d < lo || *d > hi) {
      Error(path, "must be between " + FormatDuration(lo) + " and " + FormatDuration(hi));
    } else {
      out = *d;
    }
  }

  void Properties(const YAML::Node& n, const std::string& path,
                  std::map<std::string, std::string>& out) {
    if (!n || n.IsNull()) return;
    if (!n.IsMap()) {
      Error(path, "expected a mapping of librdkafka property names to values");
      return;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>("");
      std::string value;
      const std::size_t errors_before = errors_.size();
      Str(kv.second, Sub(path, key), value);
      if (errors_.size() == errors_before) {
        if (auto problem = queue::CheckKafkaProperty(key, value)) Error(Sub(path, key), *problem);
      }
      out[key] = value;
    }
  }

 private:
  std::vector<ConfigError>& errors_;
  std::vector<ConfigError>& warnings_;
};

using std::chrono::milliseconds;
constexpr milliseconds kDay{86'400'000};

void ParseKafka(Walker& w, const YAML::Node& n, KafkaConfig& k) {
  if (!w.Map(n, "kafka", {"brokers", "embedded", "group_id", "topics", "commit_interval",
                          "commit_metadata_max_bytes", "compression", "statistics_interval",
                          "consumer", "producer"})) {
    return;
  }
  w.Str(n["brokers"], "kafka.brokers", k.brokers);
  if (k.brokers.empty()) w.Error("kafka.brokers", "must be 'embedded' or host:port[,host:port]");
  if (w.Map(n["embedded"], "kafka.embedded", {"brokers", "partitions", "bootstrap_file"})) {
    w.Int(n["embedded"]["brokers"], "kafka.embedded.brokers", k.embedded.brokers, 1, 9);
    w.Int(n["embedded"]["partitions"], "kafka.embedded.partitions", k.embedded.partitions, 1,
          1024);
    w.Str(n["embedded"]["bootstrap_file"], "kafka.embedded.bootstrap_file",
          k.embedded.bootstrap_file);
  }
  w.Str(n["group_id"], "kafka.group_id", k.group_id);
  if (k.group_id.empty()) w.Error("kafka.group_id", "must not be empty");
  if (w.Map(n["topics"], "kafka.topics", {"requests", "requests_bulk", "events", "dlq"})) {
    const auto& t = n["topics"];
    w.Str(t["requests"], "kafka.topics.requests", k.topics.requests);
    w.Str(t["requests_bulk"], "kafka.topics.requests_bulk", k.topics.requests_bulk);
    w.Str(t["events"], "kafka.topics.events", k.topics.events);
    w.Str(t["dlq"], "kafka.topics.dlq", k.topics.dlq);
  }
  w.Duration(n["commit_interval"], "kafka.commit_interval", k.commit_interval, milliseconds(1),
             milliseconds(60'000));
  w.Int(n["commit_metadata_max_bytes"], "kafka.commit_metadata_max_bytes",
        k.commit_metadata_max_bytes, 0, 1'000'000);
  w.Duration(n["statistics_interval"], "kafka.statistics_interval", k.statistics_interval,
             milliseconds(0), milliseconds(3'600'000));
  w.Properties(n["consumer"], "kafka.consumer", k.consumer_properties);
  w.Properties(n["producer"], "kafka.producer", k.producer_properties);
  w.Str(n["compression"], "kafka.compression", k.compression);
  const std::vector<std::string> codecs(std::begin(kKafkaCompressions),
                                        std::end(kKafkaCompressions));
  if (std::find(codecs.begin(), codecs.end(), k.compression) == codecs.end()) {
    w.Error("kafka.compression", "unknown codec '" + k.compression + "'; accepted: " +
                                     Join(codecs) +
                                     ". Hint: every consumer of the events and DLQ topics "
                                     "must read it (kafkajs: gzip or none, or kafkajs-lz4)");
  }
  // One place decides the codec, so that the docs and check-config tell the
  // truth about what consumers receive.
  for (const char* alias : {"compression.type", "compression.codec"}) {
    if (k.producer_properties.count(alias) != 0) {
      w.Error(std::string("kafka.producer.") + alias, "set kafka.compression instead");
    }
  }
}

// A secret given inline (`key`, usually "${ENV}") or as a file (`key_file`).
void Secret(Walker& w, const YAML::Node& n, const std::string& path, const std::string& key,
            std::string& out) {
  const std::size_t errors_before = w.error_count();
  w.Str(n[key], path + "." + key, out);
  if (n[key] && n[key].IsScalar() && out.empty() && !n[key + "_file"] &&
      w.error_count() == errors_before) {
    // "${TOKEN:-}" with TOKEN unset, or "": the provider would fail every
    // send with an authentication error instead of failing here.
    w.Error(path + "." + key, "is empty (an unset variable in ${VAR:-} expands to nothing)");
  }
  const std::string file_key = key + "_file";
  if (!n[file_key]) return;
  std::string file;
  w.Str(n[file_key], path + "." + file_key, file);
  if (n[key]) {
    w.Error(path + "." + file_key, "set " + key + " or " + file_key + ", not both");
    return;
  }
  if (file.empty()) return;
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) {
    w.Error(path + "." + file_key, "cannot read '" + file + "'");
    return;
  }
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) w.Error(path + "." + file_key, "'" + file + "' is empty");
}

// Reports a required setting that is missing. A key that is present but
// failed to expand was reported already.
void Require(Walker& w, const YAML::Node& n, const std::string& path, const std::string& key,
             const std::string& value, const std::string& type, bool has_file_form = false) {
  if (!value.empty() || n[key] || (has_file_form && n[key + "_file"])) return;
  w.Error(path + "." + key, "required for type " + type + (has_file_form ? " (or " + key + "_file)" : ""));
}

void BaseUrl(Walker& w, const YAML::Node& n, const std::string& path, const std::string& key,
             std::string& out) {
  w.Str(n[key], path + "." + key, out);
  if (!out.empty() && out.rfind("https://", 0) != 0 && out.rfind("http://", 0) != 0) {
    w.Error(path + "." + key, "must start with https:// or http://");
  }
  while (!out.empty() && out.back() == '/') out.pop_back();
}

void ParseTwilio(Walker& w, const YAML::Node& n, const std::string& path, TwilioConfig& t) {
  BaseUrl(w, n, path, "base_url", t.base_url);
  w.Str(n["account_sid"], path + ".account_sid", t.account_sid);
  Secret(w, n, path, "auth_token", t.auth_token);
  w.Str(n["from"], path + ".from", t.from);
  w.Str(n["messaging_service_sid"], path + ".messaging_service_sid", t.messaging_service_sid);
  w.Str(n["status_callback"], path + ".status_callback", t.status_callback);
  w.Duration(n["validity_period"], path + ".validity_period", t.validity_period, milliseconds(0),
             milliseconds(36'000'000));
  if (t.validity_period.count() > 0 && t.validity_period < milliseconds(1000)) {
    w.Error(path + ".validity_period", "Twilio accepts 1s to 10h");
  }
  Require(w, n, path, "account_sid", t.account_sid, "twilio");
  Require(w, n, path, "auth_token", t.auth_token, "twilio", true);
  if (t.from.empty() == t.messaging_service_sid.empty()) {
    w.Error(path, "set exactly one of 'from' and 'messaging_service_sid'");
  }
}

void ParseSendGrid(Walker& w, const YAML::Node& n, const std::string& path, SendGridConfig& c) {
  BaseUrl(w, n, path, "base_url", c.base_url);
  Secret(w, n, path, "api_key", c.api_key);
  w.Str(n["from"], path + ".from", c.from);
  w.Str(n["category"], path + ".category", c.category);
  w.Str(n["webhook_public_key"], path + ".webhook_public_key", c.webhook_public_key);
  if (!c.webhook_public_key.empty()) {
    if (auto v = providers::SendGridWebhookVerifier::FromPublicKey(c.webhook_public_key); !v) {
      w.Error(path + ".webhook_public_key", v.error());
    }
  }
  Require(w, n, path, "api_key", c.api_key, "sendgrid", true);
  if (!c.from.empty() && !providers::ParseMailbox(c.from)) {
    w.Error(path + ".from", "expected 'Name <address>' or an address");
  }
}

void ParseSmtp(Walker& w, const YAML::Node& n, const std::string& path, SmtpConfig& c) {
  w.Str(n["url"], path + ".url", c.url);
  w.Str(n["username"], path + ".username", c.username);
  Secret(w, n, path, "password", c.password);
  w.Bool(n["starttls"], path + ".starttls", c.starttls);
  w.Str(n["from"], path + ".from", c.from_default);
  w.Str(n["message_id_domain"], path + ".message_id_domain", c.message_id_domain);
  Require(w, n, path, "url", c.url, "smtp");
  if (!c.url.empty() && c.url.rfind("smtp://", 0) != 0 && c.url.rfind("smtps://", 0) != 0) {
    w.Error(path + ".url", "must be smtp://host:port (STARTTLS) or smtps://host:port (TLS)");
  }
  if (!c.username.empty() && c.password.empty() && !n["password"] && !n["password_file"]) {
    w.Error(path + ".password", "required when username is set (or password_file)");
  }
  if (!c.from_default.empty() && !providers::ParseMailbox(c.from_default)) {
    w.Error(path + ".from", "expected 'Name <address>' or an address");
  }
}

void ParseViber(Walker& w, const YAML::Node& n, const std::string& path, ViberConfig& c) {
  BaseUrl(w, n, path, "base_url", c.base_url);
  Secret(w, n, path, "auth_token", c.auth_token);
  w.Str(n["sender_name"], path + ".sender_name", c.sender_name);
  w.Str(n["sender_avatar"], path + ".sender_avatar", c.sender_avatar);
  w.Int(n["min_api_version"], path + ".min_api_version", c.min_api_version, 0, 100);
  Require(w, n, path, "auth_token", c.auth_token, "viber", true);
  Require(w, n, path, "sender_name", c.sender_name, "viber");
  // Characters, not bytes: UTF-8 continuation bytes do not count.
  const auto chars = std::count_if(c.sender_name.begin(), c.sender_name.end(),
                                   [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; });
  if (chars > 28) w.Error(path + ".sender_name", "Viber allows at most 28 characters");
}

void ParseWebPush(Walker& w, const YAML::Node& n, const std::string& path, WebPushConfig& c) {
  Secret(w, n, path, "vapid_private_key", c.vapid_private_key);
  w.Str(n["vapid_subject"], path + ".vapid_subject", c.vapid_subject);
  milliseconds lifetime = c.jwt_lifetime;
  w.Duration(n["jwt_lifetime"], path + ".jwt_lifetime", lifetime, milliseconds(60'000), kDay);
  c.jwt_lifetime = std::chrono::duration_cast<std::chrono::seconds>(lifetime);
  w.Str(n["endpoint_origin_override"], path + ".endpoint_origin_override",
        c.endpoint_origin_override);
  Require(w, n, path, "vapid_private_key", c.vapid_private_key, "webpush", true);
  Require(w, n, path, "vapid_subject", c.vapid_subject, "webpush");
  if (!c.vapid_private_key.empty()) {
    if (auto key = providers::webpush::VapidKey::FromPrivateBase64Url(c.vapid_private_key); !key) {
      // The message describes the shape, never the key.
      w.Error(path + ".vapid_private_key",
              "not a base64url P-256 private key (generate one with `omnigate vapid-keys`)");
    }
  }
  if (!c.vapid_subject.empty() && c.vapid_subject.rfind("mailto:", 0) != 0 &&
      c.vapid_subject.rfind("https://", 0) != 0) {
    w.Error(path + ".vapid_subject", "must be a mailto: or https: URL (RFC 8292 §2.1)");
  }
  while (!c.endpoint_origin_override.empty() && c.endpoint_origin_override.back() == '/') {
    c.endpoint_origin_override.pop_back();
  }
}

void IntList(Walker& w, const YAML::Node& n, const std::string& path, std::vector<int>& out,
             int lo, int hi) {
  if (!n) return;
  if (!n.IsSequence()) {
    w.Error(path, "expected a list of integers");
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < n.size(); ++i) {
    int v = 0;
    w.Int(n[i], path + "[" + std::to_string(i) + "]", v, lo, hi);
    out.push_back(v);
  }
}

// `receipts:` of a generic provider: where its webhook's fields are, what its
// status words mean, how it signs.
void ParseGenericReceipts(Walker& w, const YAML::Node& n, const std::string& path,
                          providers::GenericReceiptMapping& m) {
  using Mapping = providers::GenericReceiptMapping;
  std::string format = "json";
  w.Str(n["format"], path + ".format", format);
  if (format == "json") {
    m.format = Mapping::Format::json;
  } else if (format == "form") {
    m.format = Mapping::Format::form;
  } else {
    w.Error(path + ".format", "unknown format '" + format + "'; accepted: json, form");
  }
  struct Field {
    const char* key;
    std::string* out;
    bool required;
  };
  for (const Field& f :
       {Field{"message_id", &m.message_id, true}, Field{"status", &m.status, true},
        Field{"error_code", &m.error_code, false}, Field{"event_id", &m.event_id, false}}) {
    const std::string key_path = path + "." + f.key;
    std::string* out = f.out;
    const std::size_t errors_before = w.error_count();
    w.Str(n[f.key], key_path, *out);
    if (out->empty()) {
      if (f.required && w.error_count() == errors_before) {
        w.Error(key_path, "required: where the receipt's " + std::string(f.key) +
                              " is (a JSON pointer, or a field name for format form)");
      }
      continue;
    }
    // Each format's way of naming a field, so that a form field name under
    // format json (or a pointer under form) is found here, not as a 400 on
    // every receipt.
    if (m.format == Mapping::Format::json && out->front() != '/') {
      w.Error(key_path, "'" + *out + "' is not a JSON pointer (RFC 6901: /" + *out +
                            "); or, for a form body, set format: form");
    } else if (m.format == Mapping::Format::form && out->front() == '/') {
      w.Error(key_path, "'" + *out + "' is a JSON pointer; format form names a field, e.g. " +
                            out->substr(1));
    }
  }

  std::vector<std::string> ours;
  for (const auto status : providers::kReceiptStatuses) ours.emplace_back(ToString(status));
  const YAML::Node& statuses = n["statuses"];
  if (!statuses || statuses.IsNull() || (statuses.IsMap() && statuses.size() == 0)) {
    w.Error(path + ".statuses",
            "required: the provider's status words and ours, e.g. "
            "{DELIVRD: delivered, UNDELIV: undelivered}; ours: " +
                Join(ours));
  } else if (!statuses.IsMap()) {
    w.Error(path + ".statuses", "expected a mapping of the provider's status words to ours");
  } else {
    for (const auto& kv : statuses) {
      const std::string word = kv.first.as<std::string>("");
      const std::string word_path = path + ".statuses." + word;
      std::string value;
      const std::size_t errors_before = w.error_count();
      w.Str(kv.second, word_path, value);
      if (w.error_count() != errors_before) continue;
      const auto status = providers::ReceiptStatusFromString(value);
      if (!status) {
        w.Error(word_path, "'" + value + "' is not a status; one of " + Join(ours));
        continue;
      }
      if (std::any_of(m.statuses.begin(), m.statuses.end(),
                      [&](const auto& entry) { return entry.first == word; })) {
        w.Error(word_path, "given twice");
        continue;
      }
      m.statuses.emplace_back(word, *status);
    }
  }

  w.Bool(n["allow_unsigned"], path + ".allow_unsigned", m.allow_unsigned);
  const std::string sig_path = path + ".signature";
  if (w.Map(n["signature"], sig_path,
            {"header", "algorithm", "encoding", "secret", "secret_file"})) {
    const YAML::Node& sig = n["signature"];
    w.Str(sig["header"], sig_path + ".header", m.signature_header);
    if (m.signature_header.empty()) {
      w.Error(sig_path + ".header", "required: the header that carries the signature");
    }
    std::string algorithm = "hmac-sha256";
    w.Str(sig["algorithm"], sig_path + ".algorithm", algorithm);
    if (algorithm == "hmac-sha256") {
      m.algorithm = Mapping::Algorithm::hmac_sha256;
    } else if (algorithm == "hmac-sha1") {
      m.algorithm = Mapping::Algorithm::hmac_sha1;
    } else {
      w.Error(sig_path + ".algorithm",
              "unknown algorithm '" + algorithm + "'; accepted: hmac-sha256, hmac-sha1");
    }
    std::string encoding = "hex";
    w.Str(sig["encoding"], sig_path + ".encoding", encoding);
    if (encoding == "hex") {
      m.encoding = Mapping::Encoding::hex;
    } else if (encoding == "base64") {
      m.encoding = Mapping::Encoding::base64;
    } else {
      w.Error(sig_path + ".encoding", "unknown encoding '" + encoding + "'; accepted: hex, base64");
    }
    Secret(w, sig, sig_path, "secret", m.secret);
    if (!sig["secret"] && !sig["secret_file"]) {
      w.Error(sig_path + ".secret", "required (or secret_file): the key of the HMAC");
    }
    if (m.allow_unsigned) {
      w.Error(path + ".allow_unsigned",
              "set signature or allow_unsigned: true, not both (a receipt without the header "
              "would pass unchecked)");
    }
  } else if (!m.allow_unsigned) {
    w.Error(sig_path,
            "required: how the provider signs its receipts (header, algorithm, "
            "encoding, secret). Hint: allow_unsigned: true takes them unchecked");
  } else {
    w.Warn(path + ".allow_unsigned",
           "receipts are taken without a signature: anyone who can reach /v1/receipts/ can mark "
           "this provider's messages delivered or failed and add suppressions. Hint: configure "
           "receipts.signature if the provider signs, or let only its addresses reach the route");
  }
}

void ParseGenericHttp(Walker& w, const YAML::Node& n, const std::string& path,
                      GenericHttpConfig& c) {
  w.Str(n["method"], path + ".method", c.method);
  if (c.method != "GET" && c.method != "POST" && c.method != "PUT") {
    w.Error(path + ".method", "expected GET, POST or PUT, got '" + c.method + "'");
  }
  w.Str(n["url"], path + ".url", c.url);
  Require(w, n, path, "url", c.url, "http");
  if (!c.url.empty() && c.url.rfind("https://", 0) != 0 && c.url.rfind("http://", 0) != 0) {
    w.Error(path + ".url", "must start with https:// or http://");
  }
  if (const auto& h = n["headers"]; h && !h.IsNull()) {
    if (!h.IsMap()) {
      w.Error(path + ".headers", "expected a mapping of header names to value templates");
    } else {
      for (const auto& kv : h) {
        const std::string name = kv.first.as<std::string>("");
        std::string value;
        w.Str(kv.second, path + ".headers." + name, value);
        c.headers.emplace_back(name, value);
      }
    }
  }
  w.Str(n["body"], path + ".body", c.body);
  if (w.Map(n["success"], path + ".success", {"status", "json_pointer", "equals", "regex"})) {
    const auto& s = n["success"];
    IntList(w, s["status"], path + ".success.status", c.success_status, 100, 599);
    w.Str(s["json_pointer"], path + ".success.json_pointer", c.success_json_pointer);
    w.Str(s["equals"], path + ".success.equals", c.success_equals);
    w.Str(s["regex"], path + ".success.regex", c.success_regex);
    if (!c.success_equals.empty() && c.success_json_pointer.empty()) {
      w.Error(path + ".success.equals", "needs success.json_pointer");
    }
  }
  if (w.Map(n["message_id"], path + ".message_id", {"header", "json_pointer", "regex"})) {
    const auto& m = n["message_id"];
    w.Str(m["header"], path + ".message_id.header", c.message_id_header);
    w.Str(m["json_pointer"], path + ".message_id.json_pointer", c.message_id_json_pointer);
    w.Str(m["regex"], path + ".message_id.regex", c.message_id_regex);
    if (m.size() > 1) w.Error(path + ".message_id", "set one of header, json_pointer, regex");
  }
  w.Str(n["invalid_address_regex"], path + ".invalid_address_regex", c.invalid_address_regex);
  if (w.Map(n["receipts"], path + ".receipts",
            {"format", "message_id", "status", "error_code", "event_id", "statuses", "signature",
             "allow_unsigned"})) {
    ParseGenericReceipts(w, n["receipts"], path + ".receipts", c.receipts.emplace());
  }
  // Templates and regexes are compiled here too, so that check-config finds
  // their errors, not the first send.
  if (auto compiled = providers::CompiledGenericHttp::Compile(c); !compiled) {
    for (const auto& e : compiled.error()) w.Error(path + "." + e.substr(0, e.find(':')), e.substr(e.find(':') + 2));
  } else {
    for (const auto& field : (*compiled)->url.raw_fields()) {
      w.Warn(path + ".url", "{{" + field + "|raw}} puts the request's " + field +
                                " into the URL unencoded: a publisher can change the path, "
                                "query or host with it. Hint: use {{" + field +
                                "}} unless the provider needs the raw text");
    }
  }
}

void ParseHttpCommon(Walker& w, const YAML::Node& n, const std::string& path,
                     HttpProviderCommon& h) {
  w.Duration(n["timeout"], path + ".timeout", h.timeout, milliseconds(1), milliseconds(600'000));
  w.Duration(n["connect_timeout"], path + ".connect_timeout", h.connect_timeout, milliseconds(1),
             milliseconds(600'000));
  w.Int(n["max_in_flight"], path + ".max_in_flight", h.max_in_flight, 1, 1'000'000);
  w.Bool(n["tls_verify"], path + ".tls_verify", h.tls_verify);
  w.Str(n["ca_file"], path + ".ca_file", h.ca_file);
  std::string client;
  w.Str(n["http_client"], path + ".http_client", client);
  if (client == "auto") {
    h.http_client = http::HttpEngine::automatic;
  } else if (client == "curl") {
    h.http_client = http::HttpEngine::curl;
  } else if (client == "native") {
    h.http_client = http::HttpEngine::native;
  } else if (!client.empty()) {
    w.Error(path + ".http_client", "unknown client '" + client + "'; accepted: auto, curl, native");
  }
  if (const YAML::Node& list = n["destination_allowlist"]; list && !list.IsNull()) {
    const std::string key = path + ".destination_allowlist";
    if (!list.IsSequence()) {
      w.Error(key, "expected a list of networks like [\"127.0.0.0/8\", \"::1/128\"]");
      return;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string item = key + "[" + std::to_string(i) + "]";
      std::string text;
      w.Str(list[i], item, text);
      std::string error;
      if (auto cidr = http::Cidr::Parse(text, &error)) {
        h.destination_allowlist.push_back(*cidr);
      } else {
        w.Error(item, error);
      }
    }
  }
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// What each provider type accepts besides the common keys, and what it sends.
struct ProviderType {
  std::string_view type;
  std::optional<Channel> channel;  // nullopt: given by the `channel` key
  std::vector<std::string> keys;
};

const std::vector<ProviderType>& ProviderTypes() {
  static const std::vector<ProviderType> kTypes = {
      {"twilio",
       Channel::sms,
       {"base_url", "account_sid", "auth_token", "auth_token_file", "from", "messaging_service_sid",
        "status_callback", "validity_period"}},
      {"sendgrid",
       Channel::email,
       {"base_url", "api_key", "api_key_file", "from", "category", "webhook_public_key"}},
      {"smtp",
       Channel::email,
       {"url", "username", "password", "password_file", "starttls", "from", "message_id_domain"}},
      {"viber",
       Channel::viber,
       {"base_url", "auth_token", "auth_token_file", "sender_name", "sender_avatar",
        "min_api_version"}},
      {"webpush",
       Channel::webpush,
       {"vapid_private_key", "vapid_private_key_file", "vapid_subject", "jwt_lifetime",
        "endpoint_origin_override"}},
      {"http",
       std::nullopt,
       {"method", "url", "headers", "body", "success", "message_id", "invalid_address_regex",
        "receipts"}},
  };
  return kTypes;
}

void ParseCircuitBreaker(Walker& w, const YAML::Node& n, const std::string& path,
                         providers::CircuitBreaker::Options& b) {
  if (!n) return;
  if (!w.Map(n, path, {"failures", "open_for", "max_open_for"})) return;
  w.Int(n["failures"], path + ".failures", b.failures, 0, 1'000'000);
  w.Duration(n["open_for"], path + ".open_for", b.open_for, milliseconds(100), kDay);
  w.Duration(n["max_open_for"], path + ".max_open_for", b.max_open_for, milliseconds(100), kDay);
  if (b.max_open_for < b.open_for) {
    w.Error(path + ".max_open_for", "must not be shorter than open_for");
  }
}

void ParseProviders(Walker& w, const YAML::Node& n, Config& c) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) {
    w.Error("providers", "expected a list of providers");
    return;
  }
  static const std::vector<std::string> kCommon = {
      "name", "type", "channel", "timeout", "connect_timeout", "max_in_flight", "tls_verify",
      "ca_file", "http_client", "destination_allowlist", "circuit_breaker"};
  std::set<std::string> names;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = "providers[" + std::to_string(i) + "]";
    const YAML::Node& p = n[i];
    if (!p || !p.IsMap()) {
      w.Error(path, "expected a provider mapping");
      continue;
    }
    ProviderConfig pc;
    w.Str(p["name"], path + ".name", pc.name);
    if (!ValidName(pc.name)) {
      w.Error(path + ".name", "required: 1-64 characters of a-z, 0-9 and '-'");
    } else if (!names.insert(pc.name).second) {
      w.Error(path + ".name", "duplicate provider name '" + pc.name + "'");
    }
    std::string type;
    w.Str(p["type"], path + ".type", type);
    const auto& types = ProviderTypes();
    const auto it = std::find_if(types.begin(), types.end(),
                                 [&](const ProviderType& t) { return t.type == type; });
    if (it == types.end()) {
      std::vector<std::string> accepted;
      for (const auto& t : types) accepted.emplace_back(t.type);
      w.Error(path + ".type", (type.empty() ? std::string("required") : "unknown type '" + type + "'") +
                                  "; accepted: " + Join(accepted));
      continue;
    }
    std::vector<std::string> keys = kCommon;
    keys.insert(keys.end(), it->keys.begin(), it->keys.end());
    w.Map(p, path, keys);

    std::optional<Channel> channel = it->channel;
    if (p["channel"]) {
      std::string ch;
      w.Str(p["channel"], path + ".channel", ch);
      const auto parsed = ChannelFromString(ch);
      if (!parsed) {
        w.Error(path + ".channel", "unknown channel '" + ch + "'; accepted: email, sms, viber, webpush");
      } else if (channel && *parsed != *channel) {
        w.Error(path + ".channel", "type " + type + " sends " + std::string(ToString(*channel)) +
                                       ", not " + ch);
      } else {
        channel = parsed;
      }
    } else if (!channel) {
      w.Error(path + ".channel", "required for type " + type + ": email, sms, viber or webpush");
    }
    pc.channel = channel.value_or(Channel::sms);

    auto parse = [&](auto config, auto parser) {
      parser(w, p, path, config);
      ParseHttpCommon(w, p, path, config.http);
      pc.settings = std::move(config);
    };
    if (type == "twilio") parse(TwilioConfig{}, ParseTwilio);
    if (type == "sendgrid") parse(SendGridConfig{}, ParseSendGrid);
    if (type == "smtp") parse(SmtpConfig{}, ParseSmtp);
    if (type == "viber") parse(ViberConfig{}, ParseViber);
    if (type == "webpush") parse(WebPushConfig{}, ParseWebPush);
    if (type == "http") {
      GenericHttpConfig g;
      g.channel = pc.channel;
      parse(std::move(g), ParseGenericHttp);
    }
    ParseCircuitBreaker(w, p["circuit_breaker"], path + ".circuit_breaker", pc.circuit_breaker);
    c.providers.push_back(std::move(pc));
  }
}

void ParseRoutes(Walker& w, const YAML::Node& n, Config& c) {
  if (w.Map(n, "routes", {"email", "sms", "viber", "webpush"})) {
    for (const auto& kv : n) {
      const std::string ch = kv.first.as<std::string>("");
      const auto channel = ChannelFromString(ch);
      if (!channel) continue;  // reported by Map
      const std::string path = "routes." + ch;
      if (!kv.second.IsSequence()) {
        w.Error(path, "expected a list of provider names in failover order");
        continue;
      }
      auto& route = c.routes[*channel];
      for (std::size_t i = 0; i < kv.second.size(); ++i) {
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        std::string name;
        w.Str(kv.second[i], item_path, name);
        const auto it = std::find_if(c.providers.begin(), c.providers.end(),
                                     [&](const ProviderConfig& p) { return p.name == name; });
        if (it == c.providers.end()) {
          w.Error(item_path, "no provider named '" + name + "'");
        } else if (it->channel != *channel) {
          w.Error(item_path, "provider '" + name + "' sends " + std::string(ToString(it->channel)) +
                                 ", not " + ch);
        } else {
          route.push_back(name);
        }
      }
    }
  }
  // Channels without an explicit route use every provider of the channel in
  // declaration order.
  for (const auto& p : c.providers) {
    if (n && n[std::string(ToString(p.channel))]) continue;
    c.routes[p.channel].push_back(p.name);
  }
}

void ParseState(Walker& w, const YAML::Node& n, StateConfig& st) {
  if (!w.Map(n, "state", {"backend", "path", "sync_writes", "status_retention", "redis"})) return;
  w.Str(n["backend"], "state.backend", st.backend);
  if (st.backend != "embedded" && st.backend != "redis") {
    w.Error("state.backend", "unknown backend '" + st.backend + "'; accepted: embedded, redis");
  }
  w.Str(n["path"], "state.path", st.path);
  if (st.backend == "embedded" && st.path.empty()) w.Error("state.path", "must not be empty");
  w.Bool(n["sync_writes"], "state.sync_writes", st.sync_writes);
  w.Duration(n["status_retention"], "state.status_retention", st.status_retention, milliseconds(0),
             kDay * 400);
  const auto& r = n["redis"];
  if (w.Map(r, "state.redis", {"host", "port", "password", "password_file", "command_timeout",
                               "reconnect_backoff"})) {
    w.Str(r["host"], "state.redis.host", st.redis.host);
    if (st.redis.host.empty()) w.Error("state.redis.host", "must not be empty");
    w.Int(r["port"], "state.redis.port", st.redis.port, 1, 65535);
    Secret(w, r, "state.redis", "password", st.redis.password);
    w.Duration(r["command_timeout"], "state.redis.command_timeout", st.redis.command_timeout,
               milliseconds(10), milliseconds(60'000));
    w.Duration(r["reconnect_backoff"], "state.redis.reconnect_backoff",
               st.redis.reconnect_backoff, milliseconds(10), milliseconds(60'000));
  }
}

bool ParseLaneScope(Walker& w, const YAML::Node& n, const std::string& path, LaneScope& out) {
  if (!n) return true;
  std::string s;
  w.Str(n, path, s);
  if (s == "bulk") {
    out = LaneScope::bulk;
  } else if (s == "transactional") {
    out = LaneScope::transactional;
  } else if (s == "all") {
    out = LaneScope::all;
  } else {
    w.Error(path, "expected bulk, transactional or all; got '" + s + "'");
    return false;
  }
  return true;
}

// "3/24h" -> {3, 24h}
void ParseCapLimit(Walker& w, const YAML::Node& n, const std::string& path, CapLimit& out) {
  std::string s;
  w.Str(n, path, s);
  const auto slash = s.find('/');
  const std::string count = slash == std::string::npos ? "" : s.substr(0, slash);
  char* end = nullptr;
  const long limit = count.empty() ? 0 : std::strtol(count.c_str(), &end, 10);
  const auto parsed = slash == std::string::npos ? std::nullopt : ParseDuration(s.substr(slash + 1));
  const milliseconds window = parsed.value_or(milliseconds(-1));
  if (count.empty() || *end != '\0' || limit < 1 || limit > 1000 || window.count() < 0) {
    w.Error(path, "expected COUNT/WINDOW such as 1/1h or 3/24h (count 1-1000); got '" + s + "'");
    return;
  }
  if (window < milliseconds(1000) || window > 366 * kDay) {
    w.Error(path, "the window must be between 1s and 366d");
    return;
  }
  out = {static_cast<int>(limit), window};
}

void ParseTenantPolicy(Walker& w, const YAML::Node& n, const std::string& path, TenantPolicy& t) {
  if (!w.Map(n, path, {"dedup_window", "content_dedup", "content_window", "bulk_requires_opt_in",
                       "transactional_requires_opt_in", "frequency_caps", "over_cap",
                       "quiet_hours", "timezone"})) {
    return;
  }
  w.Str(n["timezone"], path + ".timezone", t.timezone);
  if (n["timezone"] && !policy::TimeZones().Valid(t.timezone)) {
    w.Error(path + ".timezone", "unknown time zone '" + t.timezone +
                                    "'; expected an IANA name such as Europe/Bucharest (is tzdata "
                                    "installed?)");
  }
  if (n["over_cap"]) {
    std::string action;
    w.Str(n["over_cap"], path + ".over_cap", action);
    if (action == "suppress") {
      t.over_cap = OverCap::suppress;
    } else if (action == "defer") {
      t.over_cap = OverCap::defer;
    } else {
      w.Error(path + ".over_cap", "expected suppress or defer; got '" + action + "'");
    }
  }
  if (const auto& quiet = n["quiet_hours"]) {
    const std::string qpath = path + ".quiet_hours";
    if (!quiet.IsSequence()) {
      w.Error(qpath, "expected a list of {window, lanes, channels}");
    } else {
      t.quiet_hours.clear();  // a tenant's list replaces the default one
      for (std::size_t i = 0; i < quiet.size(); ++i) {
        const std::string item = qpath + "[" + std::to_string(i) + "]";
        const auto& q = quiet[i];
        if (!w.Map(q, item, {"window", "lanes", "channels"})) {
          w.Error(item, "expected a mapping with window, lanes and channels");
          continue;
        }
        QuietHoursRule rule;
        std::string window;
        w.Str(q["window"], item + ".window", window);
        if (!q["window"]) {
          w.Error(item + ".window", "required, e.g. \"21:00-08:00\" (local time of the recipient)");
        } else if (auto parsed = policy::ParseQuietWindow(window); !parsed) {
          w.Error(item + ".window", parsed.error());
        } else {
          rule.start_minute = parsed->start_minute;
          rule.end_minute = parsed->end_minute;
        }
        ParseLaneScope(w, q["lanes"], item + ".lanes", rule.lanes);
        if (const auto& channels = q["channels"]) {
          if (!channels.IsSequence()) {
            w.Error(item + ".channels", "expected a list such as [sms, viber]");
          } else {
            for (std::size_t j = 0; j < channels.size(); ++j) {
              std::string name;
              const std::string cpath = item + ".channels[" + std::to_string(j) + "]";
              w.Str(channels[j], cpath, name);
              if (auto c = ChannelFromString(name)) {
                rule.channels.push_back(*c);
              } else {
                w.Error(cpath, "unknown channel '" + name + "'; accepted: email, sms, viber, webpush");
              }
            }
          }
        }
        t.quiet_hours.push_back(std::move(rule));
      }
    }
  }
  w.Duration(n["dedup_window"], path + ".dedup_window", t.dedup_window, milliseconds(1000),
             30 * kDay);
  w.Bool(n["content_dedup"], path + ".content_dedup", t.content_dedup);
  w.Duration(n["content_window"], path + ".content_window", t.content_window, milliseconds(1000),
             7 * kDay);
  w.Bool(n["bulk_requires_opt_in"], path + ".bulk_requires_opt_in", t.bulk_requires_opt_in);
  w.Bool(n["transactional_requires_opt_in"], path + ".transactional_requires_opt_in",
         t.transactional_requires_opt_in);
  const auto& caps = n["frequency_caps"];
  if (!caps) return;
  const std::string caps_path = path + ".frequency_caps";
  if (!caps.IsSequence()) {
    w.Error(caps_path, "expected a list of {channel, lanes, limits}");
    return;
  }
  t.frequency_caps.clear();  // a tenant's list replaces the default one
  for (std::size_t i = 0; i < caps.size(); ++i) {
    const std::string item = caps_path + "[" + std::to_string(i) + "]";
    const auto& c = caps[i];
    if (!w.Map(c, item, {"channel", "lanes", "limits"})) {
      w.Error(item, "expected a mapping with channel, lanes and limits");
      continue;
    }
    FrequencyCap cap;
    std::string channel = "all";
    w.Str(c["channel"], item + ".channel", channel);
    if (channel != "all") {
      cap.channel = ChannelFromString(channel);
      if (!cap.channel) {
        w.Error(item + ".channel",
                "unknown channel '" + channel + "'; accepted: all, email, sms, viber, webpush");
      }
    }
    ParseLaneScope(w, c["lanes"], item + ".lanes", cap.lanes);
    const auto& limits = c["limits"];
    if (!limits || !limits.IsSequence() || limits.size() == 0) {
      w.Error(item + ".limits", "required: a list such as [1/1h, 3/24h]");
      continue;
    }
    for (std::size_t j = 0; j < limits.size(); ++j) {
      CapLimit limit;
      ParseCapLimit(w, limits[j], item + ".limits[" + std::to_string(j) + "]", limit);
      cap.limits.push_back(limit);
    }
    t.frequency_caps.push_back(std::move(cap));
  }
}

void ParsePolicy(Walker& w, const YAML::Node& n, PolicyConfig& p) {
  if (!w.Map(n, "policy", {"enabled", "defaults", "tenants"})) return;
  w.Bool(n["enabled"], "policy.enabled", p.enabled);
  ParseTenantPolicy(w, n["defaults"], "policy.defaults", p.defaults);
  const auto& tenants = n["tenants"];
  if (!tenants || tenants.IsNull()) return;
  if (!tenants.IsMap()) {
    w.Error("policy.tenants", "expected a mapping of tenant names to their rules");
    return;
  }
  for (const auto& kv : tenants) {
    const std::string name = kv.first.as<std::string>("");
    TenantPolicy t = p.defaults;  // what the tenant does not set, it inherits
    ParseTenantPolicy(w, kv.second, "policy.tenants." + name, t);
    p.tenants.emplace(name, std::move(t));
  }
}

}  // namespace

std::string ConfigError::ToString() const { return path.empty() ? message : path + ": " + message; }

Result<Config, std::vector<ConfigError>> ParseConfig(const std::string& yaml_text) {
  std::vector<ConfigError> errors;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", "YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                              ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg});
    return MakeUnexpected(std::move(errors));
  }
  Config c;
  Walker w(errors, c.warnings);
  try {
    if (root && !root.IsNull()) {
      w.Map(root, "", {"kafka", "pipeline", "retry", "http", "state", "policy", "log", "providers",
                       "routes"});
    }
    ParseKafka(w, root["kafka"], c.kafka);
    if (w.Map(root["pipeline"], "pipeline",
              {"workers", "max_in_flight", "max_in_flight_per_partition", "drain_timeout",
               "max_schedule_ahead"})) {
      const auto& p = root["pipeline"];
      w.Int(p["workers"], "pipeline.workers", c.pipeline.workers, 1, 256);
      w.Int(p["max_in_flight"], "pipeline.max_in_flight", c.pipeline.max_in_flight, 1, 10'000'000);
      w.Int(p["max_in_flight_per_partition"], "pipeline.max_in_flight_per_partition",
            c.pipeline.max_in_flight_per_partition, 1, 10'000'000);
      w.Duration(p["drain_timeout"], "pipeline.drain_timeout", c.pipeline.drain_timeout,
                 milliseconds(0), milliseconds(600'000));
      w.Duration(p["max_schedule_ahead"], "pipeline.max_schedule_ahead",
                 c.pipeline.max_schedule_ahead, milliseconds(0), 366 * kDay);
    }
    if (w.Map(root["retry"], "retry",
              {"max_attempts", "initial_backoff", "max_backoff", "multiplier"})) {
      const auto& r = root["retry"];
      w.Int(r["max_attempts"], "retry.max_attempts", c.retry.max_attempts, 1, 100);
      w.Duration(r["initial_backoff"], "retry.initial_backoff", c.retry.initial_backoff,
                 milliseconds(1), kDay);
      w.Duration(r["max_backoff"], "retry.max_backoff", c.retry.max_backoff, milliseconds(1), kDay);
      w.Double(r["multiplier"], "retry.multiplier", c.retry.multiplier, 1.0, 10.0);
      if (c.retry.max_backoff < c.retry.initial_backoff) {
        w.Error("retry.max_backoff", "must not be below retry.initial_backoff");
      }
    }
    if (w.Map(root["http"], "http",
              {"listen", "port_file", "admin_token", "public_url", "open_routes",
               "max_connections", "idle_timeout"})) {
      const auto& h = root["http"];
      w.Str(h["listen"], "http.listen", c.http.listen);
      w.Str(h["public_url"], "http.public_url", c.http.public_url);
      if (!c.http.public_url.empty() && c.http.public_url.rfind("https://", 0) != 0 &&
          c.http.public_url.rfind("http://", 0) != 0) {
        w.Error("http.public_url", "expected http(s)://host[:port][/prefix]");
      }
      w.Str(h["port_file"], "http.port_file", c.http.port_file);
      const std::size_t errors_before = w.error_count();
      w.Str(h["admin_token"], "http.admin_token", c.http.admin_token);
      if (h["admin_token"] && c.http.admin_token.empty() && w.error_count() == errors_before) {
        w.Error("http.admin_token",
                "is empty; remove the key to leave admin routes open, or set the variable");
      }
      if (const auto& routes = h["open_routes"]) {
        if (!routes.IsSequence()) {
          w.Error("http.open_routes", "expected a list such as [/healthz, /readyz, /metrics]");
        } else {
          c.http.open_routes.clear();
          static const std::vector<std::string> kOpenable = {"/healthz", "/readyz", "/metrics"};
          for (std::size_t i = 0; i < routes.size(); ++i) {
            const std::string item_path = "http.open_routes[" + std::to_string(i) + "]";
            std::string route;
            w.Str(routes[i], item_path, route);
            if (std::find(kOpenable.begin(), kOpenable.end(), route) == kOpenable.end()) {
              w.Error(item_path, "'" + route + "' cannot be opened; accepted: " + Join(kOpenable) +
                                     " (admin routes always need the token)");
            } else {
              c.http.open_routes.push_back(route);
            }
          }
        }
      }
      w.Int(h["max_connections"], "http.max_connections", c.http.max_connections, 1, 100'000);
      w.Duration(h["idle_timeout"], "http.idle_timeout", c.http.idle_timeout, milliseconds(100),
                 milliseconds(3'600'000));
      const auto colon = c.http.listen.rfind(':');
      int port = -1;
      if (colon != std::string::npos) {
        const std::string p = c.http.listen.substr(colon + 1);
        char* end = nullptr;
        const long v = std::strtol(p.c_str(), &end, 10);
        if (!p.empty() && *end == '\0' && v >= 0 && v <= 65535) port = static_cast<int>(v);
      }
      if (port < 0) w.Error("http.listen", "expected host:port with port 0-65535");
    }
    if (w.Map(root["log"], "log", {"level", "json"})) {
      w.Str(root["log"]["level"], "log.level", c.log.level);
      w.Bool(root["log"]["json"], "log.json", c.log.json);
      static const std::vector<std::string> kLevels = {"trace", "debug", "info",    "warn",
                                                       "error", "critical", "off"};
      if (std::find(kLevels.begin(), kLevels.end(), c.log.level) == kLevels.end()) {
        w.Error("log.level", "unknown level '" + c.log.level + "'; accepted: " + Join(kLevels));
      }
    }
    ParseState(w, root["state"], c.state);
    ParsePolicy(w, root["policy"], c.policy);
    ParseProviders(w, root["providers"], c);
    ParseRoutes(w, root["routes"], c);
    if (!c.policy.enabled && c.pipeline.max_schedule_ahead > milliseconds(3'600'000)) {
      c.warnings.push_back(
          {"pipeline.max_schedule_ahead",
           "with policy.enabled false there is no state store: a scheduled request waits in "
           "memory and holds its partition's committed offset until it is sent; keep this at 1h "
           "or less"});
    }
    if (c.pipeline.max_in_flight_per_partition > c.pipeline.max_in_flight) {
      w.Error("pipeline.max_in_flight_per_partition", "must not exceed pipeline.max_in_flight");
    }
  } catch (const YAML::Exception& e) {
    errors.push_back({"", std::string("cannot read config: ") + e.what()});
  }
  if (!errors.empty()) return MakeUnexpected(std::move(errors));
  return c;
}

namespace {

// A config file's text, refused when it cannot be a config: a directory,
// unreadable, or empty.
Result<std::string, std::vector<ConfigError>> ReadConfigText(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return MakeUnexpected(
        std::vector<ConfigError>{{"", "'" + path + "' is a directory, not a config file"}});
  }
  std::ifstream in(path);
  if (!in) return MakeUnexpected(std::vector<ConfigError>{{"", "cannot open '" + path + "'"}});
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    // Every key has a default, so an empty file would run a gateway nobody
    // configured (usually a failed template render or a wrong path).
    return MakeUnexpected(std::vector<ConfigError>{
        {"", "'" + path + "' is empty; a config needs at least kafka and providers"}});
  }
  return text;
}

}  // namespace

Result<Config, std::vector<ConfigError>> LoadConfigFile(const std::string& path) {
  auto text = ReadConfigText(path);
  if (!text) return MakeUnexpected(std::move(text).error());
  return ParseConfig(*text);
}

Result<KafkaConfig, std::vector<ConfigError>> LoadKafkaConfigFile(const std::string& path) {
  auto text = ReadConfigText(path);
  if (!text) return MakeUnexpected(std::move(text).error());
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;
  KafkaConfig k;
  try {
    const YAML::Node root = YAML::Load(*text);
    Walker w(errors, warnings);
    ParseKafka(w, root["kafka"], k);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg});
  }
  if (!errors.empty()) return MakeUnexpected(std::move(errors));
  return k;
}

}  // namespace omnigate::gateway
