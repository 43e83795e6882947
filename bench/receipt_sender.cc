#include "bench/receipt_sender.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <simdjson.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <queue>
#include <thread>
#include <vector>

#include "bench/mock_h2_connection.h"
#include "common/json.h"
#include "common/text.h"
#include "providers/http/transport.h"
#include "providers/generic/generic_receipt.h"
#include "providers/twilio/twilio_provider.h"
#include "providers/twilio/twilio_receipt.h"
#include "providers/viber/viber_receipt.h"

namespace omnigate::bench {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using detail::NextRandom;

namespace {

constexpr std::array<std::string_view, ReceiptSender::kApiCount> kApiNames = {
    "twilio", "sendgrid", "viber", "generic"};
constexpr int kMaxAttempts = 5;

enum class Kind : std::uint8_t { delivered, failed, read };

// Each API's word for a kind of receipt, indexed [api][kind].
constexpr std::array<std::array<std::string_view, 3>, ReceiptSender::kApiCount> kWords = {{
    {"delivered", "undelivered", "read"},  // twilio (MessageStatus)
    {"delivered", "dropped", "open"},      // sendgrid (event)
    {"delivered", "failed", "seen"},       // viber (event)
    {"DELIVRD", "UNDELIV", "READ"},        // generic (status)
}};

double Unit(std::uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

}  // namespace

class ReceiptSender::Impl {
 public:
  struct Item {
    Clock::time_point due;
    Api api;
    Kind kind;
    int attempt = 0;
    std::string url;
    std::string id;
    std::string to;
    std::uint64_t event = 0;  // numbers the event: its dedup key at the provider
    std::string body;         // built at the first attempt; retries resend it as is
    std::vector<std::string> headers;

    bool operator>(const Item& o) const { return due > o.due; }
  };

  explicit Impl(ReceiptSender& owner) : owner_(owner), timer_(io_) {
    generic_signing_.secret = owner.keys_.generic_secret;  // hex HMAC-SHA256 by default
  }

  void Start() {
    http::TransportOptions t;
    t.engine = http::HttpEngine::native;
    t.max_connections_per_host = kMaxInFlight;
    transport_.emplace(io_, t);
    guard_.emplace(asio::make_work_guard(io_));
    thread_ = std::thread([this] { io_.run(); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      timer_.cancel();
      transport_.reset();
      guard_.reset();
      io_.stop();
    });
    thread_.join();
  }

  void Push(Item item) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    asio::post(io_, [this, item = std::move(item)]() mutable {
      queue_.push(std::move(item));
      if (in_flight_ < kMaxInFlight) Arm();
    });
  }

  mutable std::mutex mu;  // guards settings
  Settings settings;
  std::atomic<std::uint64_t> event_counter{0};
  std::array<std::atomic<std::uint64_t>, 3> scheduled{};
  std::atomic<std::uint64_t> posted{0}, accepted{0}, refused{0}, retried{0}, gave_up{0};
  std::atomic<std::int64_t> pending_{0};

 private:
  void Arm() {
    if (queue_.empty()) return;
    const auto due = queue_.top().due;
    if (armed_ && armed_for_ <= due) return;
    armed_ = true;
    armed_for_ = due;
    timer_.expires_at(due);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      armed_ = false;
      Drain();
    });
  }

  // Posts what is due, up to kMaxInFlight at once: a provider sends its
  // webhooks from a bounded pool too, and a request queued in the client
  // would spend its timeout there.
  void Drain() {
    const auto now = Clock::now();
    while (!queue_.empty() && queue_.top().due <= now && in_flight_ < kMaxInFlight) {
      // priority_queue::top is const; the item is copied out once per post.
      Item item = queue_.top();
      queue_.pop();
      Post(std::move(item));
    }
    if (in_flight_ < kMaxInFlight) Arm();
  }

  // The provider's own format and signature, made when the receipt is
  // first posted (SendGrid's timestamp must be fresh).
  void Build(Item& item) const;

  void Post(Item item) {
    if (!transport_) return;
    if (item.body.empty()) Build(item);
    http::Request r;
    r.method = http::Method::post;
    r.url = item.url;
    r.headers = item.headers;
    r.body = item.body;
    r.timeout = std::chrono::seconds(10);
    posted.fetch_add(1, std::memory_order_relaxed);
    ++in_flight_;
    transport_->Send(std::move(r), [this, item = std::move(item)](http::Response resp) mutable {
      --in_flight_;
      Answered(std::move(item), resp);
      Drain();
    });
  }

  void Answered(Item item, const http::Response& resp) {
    if (resp.error == http::TransportError::none && resp.status >= 200 && resp.status < 300) {
      accepted.fetch_add(1, std::memory_order_relaxed);
      pending_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    if (resp.error == http::TransportError::none && resp.status >= 400 && resp.status < 500) {
      refused.fetch_add(1, std::memory_order_relaxed);
      pending_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    if (++item.attempt >= kMaxAttempts) {
      gave_up.fetch_add(1, std::memory_order_relaxed);
      pending_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    retried.fetch_add(1, std::memory_order_relaxed);
    item.due = Clock::now() + std::chrono::milliseconds(250) * (1 << item.attempt);
    queue_.push(std::move(item));
  }

  ReceiptSender& owner_;
  providers::GenericReceiptMapping generic_signing_;  // how the generic API signs
  asio::io_context io_{1};
  asio::steady_timer timer_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::optional<http::Transport> transport_;
  std::thread thread_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue_;
  static constexpr int kMaxInFlight = 64;
  int in_flight_ = 0;
  bool armed_ = false;
  Clock::time_point armed_for_{};

 public:
  PkeyPtr sendgrid_key;
};

ReceiptSender::ReceiptSender(Keys keys, std::uint64_t seed)
    : keys_(std::move(keys)), impl_(std::make_unique<Impl>(*this)) {
  impl_->event_counter = seed << 32;
}

ReceiptSender::~ReceiptSender() { Stop(); }

std::string ReceiptSender::Start() {
  PkeyPtr key;
  if (keys_.sendgrid_private_key.empty()) {
    key.reset(EVP_EC_gen("P-256"));
    if (!key) return "cannot generate a P-256 key for SendGrid receipts";
  } else {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(keys_.sendgrid_private_key.data(),
                        static_cast<int>(keys_.sendgrid_private_key.size())),
        &BIO_free);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) {
      return "the SendGrid signing key is not a PEM EC private key";
    }
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return "cannot encode the SendGrid public key";
  sendgrid_public_key_.clear();
  AppendBase64(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)),
               sendgrid_public_key_);
  OPENSSL_free(der);
  impl_->sendgrid_key = std::move(key);
  impl_->Start();
  return {};
}

void ReceiptSender::Stop() { impl_->Stop(); }

void ReceiptSender::Configure(const Settings& s) {
  std::lock_guard lock(impl_->mu);
  impl_->settings = s;
}

ReceiptSender::Settings ReceiptSender::settings() const {
  std::lock_guard lock(impl_->mu);
  return impl_->settings;
}

bool ReceiptSender::enabled(Api api) const {
  std::lock_guard lock(impl_->mu);
  return !impl_->settings.url[static_cast<std::size_t>(api)].empty() || api == Api::twilio;
}

std::string ReceiptSender::ConfigureJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return "the receipt settings are not a JSON object";
  }
  Settings s = settings();
  for (const auto field : doc) {
    const std::string_view key = field.key;
    if (key == "urls") {
      simdjson::dom::object urls;
      if (field.value.get(urls) != simdjson::SUCCESS) return "urls: not an object";
      for (const auto u : urls) {
        std::size_t i = 0;
        while (i < kApiCount && kApiNames[i] != u.key) ++i;
        std::string_view url;
        if (i == kApiCount) {
          return fmt::format("urls.{}: not an API with receipts (twilio, sendgrid, viber, generic)",
                             std::string_view(u.key));
        }
        if (u.value.get(url) != simdjson::SUCCESS) {
          return fmt::format("urls.{}: not a string", std::string_view(u.key));
        }
        s.url[i] = url;
      }
      continue;
    }
    double rate = 0;
    if (key == "delivered" || key == "failed" || key == "read") {
      if (field.value.get(rate) != simdjson::SUCCESS || rate < 0 || rate > 1) {
        return fmt::format("{}: a fraction in [0, 1]", key);
      }
      (key == "delivered" ? s.delivered : key == "failed" ? s.failed : s.read) = rate;
      continue;
    }
    std::int64_t ms = 0;
    if (key == "delay_ms" || key == "jitter_ms") {
      if (field.value.get(ms) != simdjson::SUCCESS || ms < 0 || ms > 3'600'000) {
        return fmt::format("{}: milliseconds in [0, 3600000]", key);
      }
      (key == "delay_ms" ? s.delay_ms : s.jitter_ms) = static_cast<int>(ms);
      continue;
    }
    return fmt::format("{}: unknown setting (urls, delivered, failed, read, delay_ms, jitter_ms)",
                       key);
  }
  if (s.delivered + s.failed > 1.0 + 1e-9) return "delivered + failed is more than 1";
  Configure(s);
  return {};
}

void ReceiptSender::Schedule(Api api, std::string_view id, std::string_view to,
                             std::string_view callback, std::uint64_t random) {
  Settings s;
  {
    std::lock_guard lock(impl_->mu);
    const std::string& url = impl_->settings.url[static_cast<std::size_t>(api)];
    if (url.empty() && (api != Api::twilio || callback.empty())) return;
    s.url[0] = api == Api::twilio && !callback.empty() ? std::string(callback) : url;
    s.delivered = impl_->settings.delivered;
    s.failed = impl_->settings.failed;
    s.read = impl_->settings.read;
    s.delay_ms = impl_->settings.delay_ms;
    s.jitter_ms = impl_->settings.jitter_ms;
  }
  // Draws of their own, independent of the bits that chose the send's answer.
  std::uint64_t state = random ^ 0x2545f4914f6cdd1dULL;
  const double u = Unit(NextRandom(state));
  Kind kind;
  if (u < s.delivered) {
    kind = Kind::delivered;
  } else if (u < s.delivered + s.failed) {
    kind = Kind::failed;
  } else {
    return;  // silent
  }
  auto delay = std::chrono::milliseconds(s.delay_ms);
  if (s.jitter_ms > 0) {
    delay += std::chrono::milliseconds(NextRandom(state) % static_cast<unsigned>(s.jitter_ms + 1));
  }
  const auto now = Clock::now();
  auto push = [&](Kind k, Clock::time_point due) {
    impl_->scheduled[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
    Impl::Item item;
    item.due = due;
    item.api = api;
    item.kind = k;
    item.url = s.url[0];
    item.id = id;
    item.to = to;
    item.event = impl_->event_counter.fetch_add(1, std::memory_order_relaxed) + 1;
    impl_->Push(std::move(item));
  };
  push(kind, now + delay);
  const bool can_read = api == Api::viber || api == Api::sendgrid || api == Api::generic;
  if (kind == Kind::delivered && can_read && Unit(NextRandom(state)) < s.read) {
    push(Kind::read, now + delay + delay / 2 + std::chrono::milliseconds(1));
  }
}

// The test suites check the gateway's verifiers against the providers' own
// libraries (tests/node/receipt_sign.js); these signatures are checked by
// those verifiers.
void ReceiptSender::Impl::Build(Item& item) const {
  const Keys& keys = owner_.keys_;
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto unix_s = std::chrono::duration_cast<std::chrono::seconds>(wall).count();
  const auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall).count();
  const std::string event_id = fmt::format("{:016x}", item.event);
  std::string& b = item.body;
  const std::string_view word =
      kWords[static_cast<std::size_t>(item.api)][static_cast<std::size_t>(item.kind)];
  switch (item.api) {
    case Api::twilio: {
      const std::string status(word);
      std::vector<FormField> params = {
          {"AccountSid", keys.twilio_account_sid},
          {"ApiVersion", "2010-04-01"},
          {"MessageSid", item.id},
          {"MessageStatus", status},
          {"SmsSid", item.id},
          {"SmsStatus", status},
          {"To", item.to},
      };
      if (item.kind == Kind::failed) params.emplace_back("ErrorCode", "30003");  // unreachable destination handset
      for (const auto& [name, value] : params) {
        if (!b.empty()) b += '&';
        providers::AppendFormEncoded(name, b);
        b += '=';
        providers::AppendFormEncoded(value, b);
      }
      item.headers.push_back("Content-Type: application/x-www-form-urlencoded");
      item.headers.push_back(fmt::format(
          "{}: {}", providers::kTwilioSignatureHeader,
          providers::ComputeTwilioSignature(keys.twilio_auth_token, item.url, params)));
      item.headers.push_back(
          fmt::format("{}: {}-{}", providers::kTwilioIdempotencyHeader, unix_ms, event_id));
      break;
    }
    case Api::sendgrid: {
      b = R"([{"email":)";
      AppendJsonString(item.to, b);
      fmt::format_to(std::back_inserter(b),
                     R"(,"timestamp":{},"event":"{}","sg_event_id":"ev{}",)"
                     R"("sg_message_id":"{}.filter0001.mock.0")",
                     unix_s, word, event_id, item.id);
      if (item.kind == Kind::failed) b += R"(,"reason":"Bounced Address")";
      b += "}]";
      const std::string timestamp = std::to_string(unix_s);
      const std::string signed_text = timestamp + b;
      std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
      std::size_t len = 0;
      std::string sig;
      if (ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                                    sendgrid_key.get()) == 1 &&
          EVP_DigestSign(ctx.get(), nullptr, &len,
                         reinterpret_cast<const unsigned char*>(signed_text.data()),
                         signed_text.size()) == 1) {
        sig.resize(len);
        if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(signed_text.data()),
                           signed_text.size()) == 1) {
          sig.resize(len);
        } else {
          sig.clear();
        }
      }
      std::string sig64;
      AppendBase64(sig, sig64);
      item.headers.push_back("Content-Type: application/json");
      item.headers.push_back(fmt::format("X-Twilio-Email-Event-Webhook-Signature: {}", sig64));
      item.headers.push_back(fmt::format("X-Twilio-Email-Event-Webhook-Timestamp: {}", timestamp));
      break;
    }
    case Api::viber: {
      fmt::format_to(std::back_inserter(b),
                     R"({{"event":"{}","timestamp":{},"chat_hostname":"SN-CHAT-01_",)"
                     R"("message_token":{},"user_id":)",
                     word, unix_ms, item.id);
      AppendJsonString(item.to, b);
      if (item.kind == Kind::failed) b += R"(,"desc":"failure description")";
      b += '}';
      item.headers.push_back("Content-Type: application/json");
      item.headers.push_back("X-Viber-Content-Signature: " +
                             providers::ComputeViberSignature(keys.viber_auth_token, b));
      break;
    }
    case Api::generic: {
      b = R"({"message_id":)";
      AppendJsonString(item.id, b);
      fmt::format_to(std::back_inserter(b), R"(,"status":"{}","event_id":"ev{}"}})", word,
                     event_id);
      item.headers.push_back("Content-Type: application/json");
      item.headers.push_back("X-Signature: " +
                             providers::ComputeGenericReceiptSignature(generic_signing_, b));
      break;
    }
  }
}

std::string ReceiptSender::StatsJson() const {
  const Settings s = settings();
  std::string out = fmt::format(
      R"({{"scheduled":{{"delivered":{},"failed":{},"read":{}}},"posted":{},"accepted":{},)"
      R"("refused":{},"retried":{},"gave_up":{},"pending":{},"settings":{{"urls":{{)",
      impl_->scheduled[0].load(), impl_->scheduled[1].load(), impl_->scheduled[2].load(),
      impl_->posted.load(), impl_->accepted.load(), impl_->refused.load(), impl_->retried.load(),
      impl_->gave_up.load(), impl_->pending_.load());
  bool first = true;
  for (std::size_t i = 0; i < kApiCount; ++i) {
    if (s.url[i].empty()) continue;
    fmt::format_to(std::back_inserter(out), R"({}"{}":)", first ? "" : ",", kApiNames[i]);
    AppendJsonString(s.url[i], out);
    first = false;
  }
  fmt::format_to(std::back_inserter(out),
                 R"(}},"delivered":{},"failed":{},"read":{},"delay_ms":{},"jitter_ms":{}}},)"
                 R"("sendgrid_public_key":"{}"}})",
                 s.delivered, s.failed, s.read, s.delay_ms, s.jitter_ms, sendgrid_public_key_);
  return out;
}

}  // namespace omnigate::bench
