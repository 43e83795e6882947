#include "bench/mock_provider.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <optional>
#include <thread>

namespace omnigate::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormDecode(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out += ' ';
    } else if (v[i] == '%' && i + 2 < v.size() && HexValue(v[i + 1]) >= 0 &&
               HexValue(v[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(v[i + 1]) * 16 + HexValue(v[i + 2]));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// The value of `name` in an x-www-form-urlencoded body, decoded; empty if absent.
std::string FormField(std::string_view body, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const std::size_t amp = std::min(body.find('&', pos), body.size());
    const std::string_view pair = body.substr(pos, amp - pos);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return FormDecode(pair.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return {};
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string TwilioError(int code, std::string_view message, int status) {
  std::string out = fmt::format(R"({{"code":{},"message":)", code);
  AppendJsonString(out, message);
  out += fmt::format(R"(,"more_info":"https://www.twilio.com/docs/errors/{}","status":{}}})", code,
                     status);
  return out;
}

// splitmix64: a cheap, good-enough PRNG per connection.
std::uint64_t NextRandom(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Unit(std::uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

}  // namespace

// Threads, io_contexts and the acceptor.
class MockProvider::Impl {
 public:
  // One keep-alive connection: parse, answer (maybe after a delay), repeat.
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    Connection(MockProvider* owner, tcp::socket socket, std::uint64_t seed)
        : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()), rng_(seed) {
      buffer_.reserve(8192);
    }

    void Start() { ReadMore(); }

   private:
    void ReadMore() {
      const std::size_t old = buffer_.size();
      buffer_.resize(old + 16384);
      socket_.async_read_some(
          asio::buffer(buffer_.data() + old, 16384),
          [self = shared_from_this(), old](const boost::system::error_code& ec, std::size_t n) {
            self->buffer_.resize(old + n);
            if (ec) return;
            self->Parse();
          });
    }

    // Handles the first complete request in the buffer, or reads more.
    void Parse() {
      const std::string_view data(buffer_.data(), buffer_.size());
      const auto end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (data.size() > (1 << 20)) return;  // absurd header: drop the connection
        ReadMore();
        return;
      }
      const std::string_view head = data.substr(0, end);
      const auto line_end = head.find("\r\n");
      const std::string_view request_line = head.substr(0, line_end);
      const auto sp1 = request_line.find(' ');
      const auto sp2 = request_line.find(' ', sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return;
      const std::string_view method = request_line.substr(0, sp1);
      const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t content_length = 0;
      std::string_view authorization;
      close_after_ = request_line.substr(sp2 + 1) == "HTTP/1.0";
      std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = head.size();
        const std::string_view h = head.substr(pos, eol - pos);
        pos = eol + 2;
        const auto colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = h.substr(0, colon);
        std::string_view value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        auto iequals = [](std::string_view a, std::string_view b) {
          if (a.size() != b.size()) return false;
          for (std::size_t i = 0; i < a.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(a[i])) !=
                std::tolower(static_cast<unsigned char>(b[i]))) {
              return false;
            }
          }
          return true;
        };
        if (iequals(name, "content-length")) {
          std::from_chars(value.data(), value.data() + value.size(), content_length);
        } else if (iequals(name, "authorization")) {
          authorization = value;
        } else if (iequals(name, "connection")) {
          close_after_ = iequals(value, "close");
        }
      }
      const std::size_t total = end + 4 + content_length;
      if (data.size() < total) {
        ReadMore();
        return;
      }
      const std::string_view body = data.substr(end + 4, content_length);
      Reply reply = owner_->Handle(method, target, authorization, body, NextRandom(rng_));
      consumed_ = total;
      out_ = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
                         reply.status, ReasonPhrase(reply.status), reply.content_type,
                         reply.body.size(), reply.extra_headers,
                         close_after_ ? "Connection: close\r\n" : "");
      out_ += reply.body;
      if (reply.delay_ms > 0) {
        timer_.expires_after(std::chrono::milliseconds(reply.delay_ms));
        timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
          if (!ec) self->Write();
        });
      } else {
        Write();
      }
    }

    void Write() {
      asio::async_write(socket_, asio::buffer(out_),
                        [self = shared_from_this()](const boost::system::error_code& ec,
                                                    std::size_t) {
                          if (ec) return;
                          if (self->close_after_) {
                            boost::system::error_code ignored;
                            self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                            return;
                          }
                          self->buffer_.erase(self->buffer_.begin(),
                                              self->buffer_.begin() +
                                                  static_cast<std::ptrdiff_t>(self->consumed_));
                          self->Parse();
                        });
    }

    MockProvider* owner_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    std::uint64_t rng_;
    std::vector<char> buffer_;
    std::string out_;
    std::size_t consumed_ = 0;
    bool close_after_ = false;
  };

  explicit Impl(int thread_count) {
    for (int i = 0; i < std::max(1, thread_count); ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  void Accept(MockProvider* owner) {
    acceptor->async_accept(*ios[next_io % ios.size()], [this, owner](
                                                             const boost::system::error_code& ec,
                                                             tcp::socket socket) {
      if (ec) return;  // closed by Stop()
      ++next_io;
      owner->connections_.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Connection>(owner, std::move(socket),
                                   owner->options_.seed * 1000003u + next_io)
          ->Start();
      Accept(owner);
    });
  }

  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::size_t next_io = 0;
};

MockProvider::MockProvider(Options options)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_.threads)),
      expected_auth_("Basic " + Base64(options_.account_sid + ":" + options_.auth_token)) {}

MockProvider::~MockProvider() { Stop(); }

std::uint16_t MockProvider::Start() {
  if (!options_.record_path.empty()) {
    record_ = std::fopen(options_.record_path.c_str(), "a");
    if (record_ == nullptr) {
      last_error_ = "cannot open record file '" + options_.record_path + "'";
      return 0;
    }
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    last_error_ = "bad host '" + options_.host + "': " + ec.message();
    return 0;
  }
  auto& acc = impl_->acceptor.emplace(*impl_->ios[0]);
  const tcp::endpoint ep(address, options_.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    last_error_ = fmt::format("listen on {}:{}: {}", options_.host, options_.port, ec.message());
    return 0;
  }
  port_ = acc.local_endpoint().port();
  impl_->Accept(this);
  for (auto& io : impl_->ios) {
    impl_->guards.push_back(asio::make_work_guard(*io));
    impl_->threads.emplace_back([io = io.get()] { io->run(); });
  }
  return port_;
}

void MockProvider::Stop() {
  if (impl_->threads.empty()) return;
  for (auto& io : impl_->ios) io->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->guards.clear();
  impl_->acceptor.reset();
  std::lock_guard lock(mu_);
  if (record_ != nullptr) {
    std::fclose(record_);
    record_ = nullptr;
  }
}

MockProvider::Reply MockProvider::Handle(std::string_view method, std::string_view target,
                                         std::string_view authorization, std::string_view body,
                                         std::uint64_t random) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  Reply reply;
  constexpr std::string_view kTwilioPrefix = "/2010-04-01/Accounts/";
  constexpr std::string_view kTwilioSuffix = "/Messages.json";
  if (method == "GET" && target == "/healthz") {
    reply.body = R"({"ok":true})";
  } else if (method == "GET" && target == "/_mock/stats") {
    reply.body = StatsJson();
  } else if (target.rfind(kTwilioPrefix, 0) == 0 && target.size() > kTwilioPrefix.size() +
                                                                         kTwilioSuffix.size() &&
             target.substr(target.size() - kTwilioSuffix.size()) == kTwilioSuffix) {
    const std::string_view sid = target.substr(
        kTwilioPrefix.size(), target.size() - kTwilioPrefix.size() - kTwilioSuffix.size());
    if (method != "POST") {
      reply.status = 405;
      reply.body = TwilioError(20004, "Method not allowed", 405);
    } else {
      reply = Twilio(sid, authorization, body, random);
    }
  } else {
    reply.status = 404;
    reply.body = TwilioError(20404, "The requested resource was not found", 404);
  }
  if (reply.status >= 0 && reply.status < static_cast<int>(status_counts_.size())) {
    status_counts_[static_cast<std::size_t>(reply.status)].fetch_add(1, std::memory_order_relaxed);
  }
  return reply;
}

MockProvider::Reply MockProvider::Twilio(std::string_view sid, std::string_view authorization,
                                         std::string_view body, std::uint64_t random) {
  Reply reply;
  reply.delay_ms = options_.latency_ms;
  if (options_.jitter_ms > 0) {
    reply.delay_ms += static_cast<int>((random >> 40) % static_cast<unsigned>(options_.jitter_ms + 1));
  }
  if (sid != options_.account_sid || authorization != expected_auth_) {
    reply.status = 401;
    reply.body = TwilioError(20003, "Authenticate", 401);
    return reply;
  }
  ReceivedMessage m;
  m.api = "twilio";
  m.to = FormField(body, "To");
  m.body = FormField(body, "Body");
  const std::string from = FormField(body, "From");
  const std::string service = FormField(body, "MessagingServiceSid");
  const std::string callback = FormField(body, "StatusCallback");
  if (m.to.empty()) {
    reply.status = 400;
    reply.body = TwilioError(21604, "A 'To' phone number is required.", 400);
  } else if (m.body.empty()) {
    reply.status = 400;
    reply.body = TwilioError(21602, "Message body is required.", 400);
  } else if (from.empty() && service.empty()) {
    reply.status = 400;
    reply.body = TwilioError(21603, "A 'From' or 'MessagingServiceSid' parameter is required.", 400);
  } else {
    const double u = Unit(random);
    const double invalid = options_.invalid_number_rate;
    const double throttle = invalid + options_.throttle_rate;
    const double error = throttle + options_.error_rate;
    if (u < invalid) {
      reply.status = 400;
      reply.body =
          TwilioError(21211, "The 'To' number " + m.to + " is not a valid phone number.", 400);
    } else if (u < throttle) {
      reply.status = 429;
      reply.extra_headers = "Retry-After: 1\r\n";
      reply.body = TwilioError(20429, "Too Many Requests", 429);
    } else if (u < error) {
      reply.status = 500;
      reply.body = TwilioError(20500, "Internal Server Error", 500);
    } else {
      reply.status = 201;
      const std::uint64_t n = sid_counter_.fetch_add(1, std::memory_order_relaxed) + 1;
      const std::string msid = fmt::format("SM{:016x}{:016x}", options_.seed, n);
      std::string& out = reply.body;
      out.reserve(256 + m.body.size());
      out += R"({"sid":")" + msid + R"(","status":"queued","to":)";
      AppendJsonString(out, m.to);
      out += R"(,"from":)";
      AppendJsonString(out, from);
      out += R"(,"messaging_service_sid":)";
      if (service.empty()) {
        out += "null";
      } else {
        AppendJsonString(out, service);
      }
      out += R"(,"body":)";
      AppendJsonString(out, m.body);
      out += fmt::format(
          R"(,"num_segments":"1","direction":"outbound-api","account_sid":"{}",)"
          R"("uri":"/2010-04-01/Accounts/{}/Messages/{}.json"}})",
          options_.account_sid, options_.account_sid, msid);
    }
  }
  m.status = reply.status;
  if (options_.keep_in_memory || record_ != nullptr) Record(m, from.empty() ? service : from, callback);
  return reply;
}

void MockProvider::Record(const ReceivedMessage& m, std::string_view from,
                          std::string_view callback) {
  std::lock_guard lock(mu_);
  if (options_.keep_in_memory) received_.push_back(m);
  if (record_ != nullptr) {
    std::string line = R"({"api":")" + m.api + R"(","status":)" + std::to_string(m.status) +
                       R"(,"to":)";
    AppendJsonString(line, m.to);
    line += R"(,"from":)";
    AppendJsonString(line, from);
    line += R"(,"status_callback":)";
    AppendJsonString(line, callback);
    line += R"(,"body":)";
    AppendJsonString(line, m.body);
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), record_);
    std::fflush(record_);
  }
}

std::map<int, std::uint64_t> MockProvider::status_counts() const {
  std::map<int, std::uint64_t> out;
  for (std::size_t i = 0; i < status_counts_.size(); ++i) {
    const auto v = status_counts_[i].load(std::memory_order_relaxed);
    if (v != 0) out[static_cast<int>(i)] = v;
  }
  return out;
}

std::vector<MockProvider::ReceivedMessage> MockProvider::Received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::string MockProvider::StatsJson() const {
  std::string out = fmt::format(R"({{"requests":{},"connections":{},"status":{{)", requests(),
                                connections());
  bool first = true;
  for (const auto& [status, n] : status_counts()) {
    out += fmt::format(R"({}"{}":{})", first ? "" : ",", status, n);
    first = false;
  }
  out += "}}";
  return out;
}

}  // namespace omnigate::bench
