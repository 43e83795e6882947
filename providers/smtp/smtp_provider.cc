#include "providers/smtp/smtp_provider.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "providers/log_throttle.h"
#include "providers/smtp/mime_message.h"

namespace omnigate::providers {
namespace {

struct EnhancedCode {
  int subject = 0;
  int detail = 0;
};

// The RFC 3463 code after the basic one, e.g. "550 5.1.1 ..." -> {1, 1}.
std::optional<EnhancedCode> ParseEnhancedCode(std::string_view reply) {
  if (reply.size() < 10 || (reply[3] != ' ' && reply[3] != '-')) return std::nullopt;
  std::string_view s = reply.substr(4);
  if (s.size() < 5 || s[0] != reply[0] || s[1] != '.') return std::nullopt;
  s.remove_prefix(2);
  const auto number = [&s]() -> std::optional<int> {
    int v = 0;
    std::size_t i = 0;
    while (i < s.size() && i < 3 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    if (i == 0) return std::nullopt;
    s.remove_prefix(i);
    return v;
  };
  const auto subject = number();
  if (!subject || s.empty() || s[0] != '.') return std::nullopt;
  s.remove_prefix(1);
  const auto detail = number();
  if (!detail) return std::nullopt;
  return EnhancedCode{*subject, *detail};
}

// 550/551/553 mean "this mailbox" when refusing RCPT, but servers also use
// 550 for policy refusals of a sender or of content; an enhanced code tells.
bool IsRecipientRefusal(std::string_view reply) {
  const auto code = ParseEnhancedCode(reply);
  if (!code) return true;
  // X.1.7 / X.1.8 are about the sender's address.
  return code->subject == 1 && code->detail != 7 && code->detail != 8;
}

}  // namespace

SmtpProvider::SmtpProvider(std::string name, std::shared_ptr<const SmtpConfig> config,
                           http::Transport& transport, std::size_t max_in_flight)
    : name_(std::move(name)),
      config_(std::move(config)),
      dispatcher_(name_, "the SMTP server", transport, max_in_flight),
      basic_auth_(config_->username.empty() ? "" : config_->username + ":" + config_->password),
      require_tls_(config_->starttls || config_->url.rfind("smtps://", 0) == 0) {}

SendResult SmtpProvider::MapResponse(const http::Response& r) {
  // Certificates or a server without STARTTLS: configuration, not bad luck.
  if (auto failed = MapTransportFailure(r)) return *std::move(failed);
  SendResult out;
  out.latency = r.elapsed;
  const long s = r.status;  // NOLINT(google-runtime-int)
  out.reason = "smtp_" + std::to_string(s);
  if (s >= 200 && s < 300) {
    out.status = SendStatus::accepted;
    out.reason.clear();
  } else if (s >= 400 && s < 500) {
    out.status = SendStatus::retry;  // 421 closing, 450/451 try later, 452 storage
  } else if ((s == 550 || s == 551 || s == 553) && IsRecipientRefusal(r.body)) {
    out.status = SendStatus::invalid_address;
  } else if (s == 530 || s == 535) {
    out.status = SendStatus::permanent;  // authentication required / refused
    out.reason = "auth";
  } else if (s >= 500 && s < 600) {
    out.status = SendStatus::permanent;  // 552 size, 554 rejected, ...
  } else {
    out.status = SendStatus::retry;  // no usable reply
  }
  return out;
}

void SmtpProvider::Send(const OutboundMessage& message, SendCallback done) {
  const EmailMessage& email = message.email;
  const std::string_view from =
      email.from.empty() ? std::string_view(config_->from_default) : email.from;
  const std::string mail_from = AddrSpecOf(from);
  std::string domain = config_->message_id_domain;
  if (domain.empty()) domain = mail_from.substr(mail_from.rfind('@') + 1);
  MimeOptions options;
  options.from_default = config_->from_default;
  options.message_id_domain = domain;
  options.date = std::chrono::system_clock::now();
  options.message_id = NewMessageId(domain);
  auto mime = BuildMimeMessage(email, options);
  if (!mime) {
    LogThrottled(name_, "invalid_message", "provider {}: cannot build the email: {}", name_,
                 mime.error());
    SendResult result;
    result.status = SendStatus::permanent;
    result.reason = "invalid_message";
    done(std::move(result));
    return;
  }
  http::Request req;
  req.url = config_->url;
  req.body = std::move(*mime);
  req.basic_auth = basic_auth_;
  req.timeout = config_->http.timeout;
  req.connect_timeout = config_->http.connect_timeout;
  req.smtp = http::SmtpEnvelope{mail_from, {AddrSpecOf(email.to)}, require_tls_};
  dispatcher_.Dispatch(message.bulk, std::move(req), &MapResponse,
                       [id = std::move(options.message_id), done = std::move(done)](
                           SendResult result) mutable {
                         if (result.status == SendStatus::accepted) {
                           result.provider_message_id = std::move(id);
                         }
                         done(std::move(result));
                       });
}

}  // namespace omnigate::providers
