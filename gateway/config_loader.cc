// YAML → Config. Walks the document once, collecting every problem with its
// key path instead of stopping at the first.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "gateway/config.h"

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
  explicit Walker(std::vector<ConfigError>& errors) : errors_(errors) {}

  void Error(const std::string& path, std::string message) {
    errors_.push_back({path, std::move(message)});
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
      Str(kv.second, Sub(path, key), value);
      out[key] = value;
    }
  }

 private:
  std::vector<ConfigError>& errors_;
};

using std::chrono::milliseconds;
constexpr milliseconds kDay{86'400'000};

void ParseKafka(Walker& w, const YAML::Node& n, KafkaConfig& k) {
  if (!w.Map(n, "kafka", {"brokers", "embedded", "group_id", "topics", "commit_interval",
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
  w.Properties(n["consumer"], "kafka.consumer", k.consumer_properties);
  w.Properties(n["producer"], "kafka.producer", k.producer_properties);
}

void ParseTwilio(Walker& w, const YAML::Node& n, const std::string& path, TwilioConfig& t) {
  w.Str(n["base_url"], path + ".base_url", t.base_url);
  w.Str(n["account_sid"], path + ".account_sid", t.account_sid);
  w.Str(n["auth_token"], path + ".auth_token", t.auth_token);
  if (n["auth_token_file"]) {
    std::string file;
    w.Str(n["auth_token_file"], path + ".auth_token_file", file);
    if (n["auth_token"]) {
      w.Error(path + ".auth_token_file", "set auth_token or auth_token_file, not both");
    } else if (!file.empty()) {
      std::ifstream in(file);
      std::stringstream ss;
      ss << in.rdbuf();
      if (!in) {
        w.Error(path + ".auth_token_file", "cannot read '" + file + "'");
      } else {
        t.auth_token = ss.str();
        while (!t.auth_token.empty() &&
               (t.auth_token.back() == '\n' || t.auth_token.back() == '\r')) {
          t.auth_token.pop_back();
        }
      }
    }
  }
  w.Str(n["from"], path + ".from", t.from);
  w.Str(n["messaging_service_sid"], path + ".messaging_service_sid", t.messaging_service_sid);
  w.Str(n["status_callback"], path + ".status_callback", t.status_callback);
  w.Duration(n["validity_period"], path + ".validity_period", t.validity_period, milliseconds(0),
             milliseconds(36'000'000));
  if (t.validity_period.count() > 0 && t.validity_period < milliseconds(1000)) {
    w.Error(path + ".validity_period", "Twilio accepts 1s to 10h");
  }
  // A key that is present but failed to expand was reported already.
  if (t.account_sid.empty() && !n["account_sid"]) {
    w.Error(path + ".account_sid", "required for type twilio");
  }
  if (t.auth_token.empty() && !n["auth_token"] && !n["auth_token_file"]) {
    w.Error(path + ".auth_token", "required for type twilio (or auth_token_file)");
  }
  if (t.from.empty() == t.messaging_service_sid.empty()) {
    w.Error(path, "set exactly one of 'from' and 'messaging_service_sid'");
  }
  if (t.base_url.rfind("https://", 0) != 0 && t.base_url.rfind("http://", 0) != 0) {
    w.Error(path + ".base_url", "must start with https:// or http://");
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
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void ParseProviders(Walker& w, const YAML::Node& n, Config& c) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) {
    w.Error("providers", "expected a list of providers");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string path = "providers[" + std::to_string(i) + "]";
    const YAML::Node& p = n[i];
    if (!w.Map(p, path, {"name", "type", "channel", "base_url", "account_sid", "auth_token",
                         "auth_token_file", "from", "messaging_service_sid", "status_callback",
                         "validity_period", "timeout", "connect_timeout", "max_in_flight",
                         "tls_verify", "ca_file"})) {
      if (!p || p.IsNull()) w.Error(path, "expected a provider mapping");
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
    if (type == "twilio") {
      TwilioConfig t;
      ParseTwilio(w, p, path, t);
      ParseHttpCommon(w, p, path, t.http);
      pc.settings = std::move(t);
      pc.channel = Channel::sms;
    } else {
      w.Error(path + ".type", (type.empty() ? std::string("required") : "unknown type '" + type + "'") +
                                  "; accepted: twilio");
      continue;
    }
    if (p["channel"]) {
      std::string ch;
      w.Str(p["channel"], path + ".channel", ch);
      const auto parsed = ChannelFromString(ch);
      if (!parsed) {
        w.Error(path + ".channel", "unknown channel '" + ch + "'; accepted: email, sms, viber, webpush");
      } else if (*parsed != pc.channel) {
        w.Error(path + ".channel", "type " + type + " sends " + std::string(ToString(pc.channel)) +
                                       ", not " + ch);
      }
    }
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
  Walker w(errors);
  try {
    if (root && !root.IsNull()) {
      w.Map(root, "", {"kafka", "pipeline", "retry", "http", "log", "providers", "routes"});
    }
    ParseKafka(w, root["kafka"], c.kafka);
    if (w.Map(root["pipeline"], "pipeline",
              {"workers", "max_in_flight", "max_in_flight_per_partition", "drain_timeout"})) {
      const auto& p = root["pipeline"];
      w.Int(p["workers"], "pipeline.workers", c.pipeline.workers, 1, 256);
      w.Int(p["max_in_flight"], "pipeline.max_in_flight", c.pipeline.max_in_flight, 1, 10'000'000);
      w.Int(p["max_in_flight_per_partition"], "pipeline.max_in_flight_per_partition",
            c.pipeline.max_in_flight_per_partition, 1, 10'000'000);
      w.Duration(p["drain_timeout"], "pipeline.drain_timeout", c.pipeline.drain_timeout,
                 milliseconds(0), milliseconds(600'000));
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
    if (w.Map(root["http"], "http", {"listen", "port_file", "admin_token"})) {
      const auto& h = root["http"];
      w.Str(h["listen"], "http.listen", c.http.listen);
      w.Str(h["port_file"], "http.port_file", c.http.port_file);
      w.Str(h["admin_token"], "http.admin_token", c.http.admin_token);
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
    ParseProviders(w, root["providers"], c);
    ParseRoutes(w, root["routes"], c);
    if (c.pipeline.max_in_flight_per_partition > c.pipeline.max_in_flight) {
      w.Error("pipeline.max_in_flight_per_partition", "must not exceed pipeline.max_in_flight");
    }
  } catch (const YAML::Exception& e) {
    errors.push_back({"", std::string("cannot read config: ") + e.what()});
  }
  if (!errors.empty()) return MakeUnexpected(std::move(errors));
  return c;
}

Result<Config, std::vector<ConfigError>> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeUnexpected(std::vector<ConfigError>{{"", "cannot open '" + path + "'"}});
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str());
}

}  // namespace omnigate::gateway
