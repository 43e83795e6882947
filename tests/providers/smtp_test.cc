#include <gtest/gtest.h>
#include <simdjson.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "providers/http/transport.h"
#include "providers/smtp/mime_message.h"
#include "providers/smtp/smtp_provider.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::providers {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// --- Decoders written against the RFCs, independent of the encoder ---------

std::string Base64Decode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::vector<std::string> Lines(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto eol = s.find("\r\n", start);
    if (eol == std::string_view::npos) eol = s.size();
    out.emplace_back(s.substr(start, eol - start));
    start = eol + 2;
  }
  return out;
}

// The unfolded value of the first top-level header `name`.
std::string HeaderValue(const std::string& msg, const std::string& name) {
  const std::string head = "\r\n" + msg.substr(0, msg.find("\r\n\r\n") + 2);
  const auto pos = head.find("\r\n" + name + ":");
  if (pos == std::string::npos) return {};
  std::string value;
  std::size_t i = pos + 2 + name.size() + 1;
  while (i < head.size()) {
    const auto eol = head.find("\r\n", i);
    value += head.substr(i, eol - i);
    i = eol + 2;
    if (i >= head.size() || (head[i] != ' ' && head[i] != '\t')) break;
  }
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  return value;
}

// Decodes a header made of RFC 2047 B-encoded UTF-8 words (whitespace between
// adjacent encoded words is dropped, RFC 2047 §6.2).
std::string DecodeEncodedWords(std::string_view value) {
  std::string out;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.substr(i, 10) == "=?UTF-8?B?") {
      const auto end = value.find("?=", i + 10);
      if (end == std::string_view::npos) return out + "<bad>";
      out += Base64Decode(value.substr(i + 10, end - i - 10));
      i = end + 2;
      std::size_t next = i;
      while (next < value.size() && value[next] == ' ') ++next;
      if (value.substr(next, 2) == "=?") i = next;
    } else {
      out.push_back(value[i++]);
    }
  }
  return out;
}

std::string QpDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out.push_back(in[i]);
    } else if (in.substr(i + 1, 2) == "\r\n") {
      i += 2;  // soft line break
    } else {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

// 2024-03-05 14:03:09 UTC, a Tuesday.
std::chrono::system_clock::time_point FixedDate() {
  using namespace std::chrono;
  return sys_days{year{2024} / March / 5} + 14h + 3min + 9s;
}

MimeOptions FixedOptions() {
  MimeOptions o;
  o.from_default = "Shop <shop@example.com>";
  o.message_id_domain = "mail.example.com";
  o.date = FixedDate();
  o.boundary_seed = "seed-1";
  return o;
}

const std::string kUnicodeSubject = "Comandă expediată ✓";

// --- MIME ---------------------------------------------------------------------

TEST(SmtpMime, HasTheRfc5322HeadersAndCrlfEverywhere) {
  EmailMessage m{
      .to = "ana@example.org", .subject = "Hello", .text = "Hi Ana\nBye", .html = "<p>Hi Ana</p>"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value()) << r.error();
  const std::string& msg = *r;
  EXPECT_EQ(msg.rfind("Date: Tue, 05 Mar 2024 14:03:09 +0000\r\n", 0), 0u) << msg;
  EXPECT_NE(msg.find("\r\nFrom: Shop <shop@example.com>\r\n"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\r\nTo: ana@example.org\r\n"), std::string::npos);
  EXPECT_NE(msg.find("\r\nSubject: Hello\r\n"), std::string::npos);
  EXPECT_NE(msg.find("\r\nMIME-Version: 1.0\r\n"), std::string::npos);
  const std::string id = HeaderValue(msg, "Message-ID");
  ASSERT_GT(id.size(), 20u);
  EXPECT_EQ(id.front(), '<');
  EXPECT_NE(id.find("@mail.example.com>"), std::string::npos) << id;
  EXPECT_EQ(msg.find("List-Unsubscribe"), std::string::npos);
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\n') {
      ASSERT_TRUE(i > 0 && msg[i - 1] == '\r') << "bare LF at " << i;
    }
    if (msg[i] == '\r') {
      ASSERT_TRUE(i + 1 < msg.size() && msg[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  EXPECT_EQ(msg.substr(msg.size() - 2), "\r\n");
}

// A URL that tries to close its brackets and add a second List-Unsubscribe
// target stays one target: the brackets and comma inside it are encoded.
TEST(SmtpMime, UnsubscribeUrlCannotAddASecondTarget) {
  EmailMessage m{.to = "ana@example.org",
                 .subject = "s",
                 .text = "t",
                 .unsubscribe_url = "https://shop.example/u>,<https://evil.example/x y\"z"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(HeaderValue(*r, "List-Unsubscribe"),
            "<https://shop.example/u%3E%2C%3Chttps://evil.example/x%20y%22z>");
}

TEST(SmtpMime, TextAndHtmlMakeMultipartAlternativeInThatOrder) {
  EmailMessage m{
      .to = "ana@example.org", .subject = "s", .text = "plain body", .html = "<b>html body</b>"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value());
  const std::string ct = HeaderValue(*r, "Content-Type");
  ASSERT_EQ(ct.rfind("multipart/alternative; boundary=\"", 0), 0u) << ct;
  for (const auto& line : Lines(r->substr(0, r->find("\r\n\r\n")))) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  const std::string boundary = ct.substr(ct.find('"') + 1, ct.rfind('"') - ct.find('"') - 1);
  const std::string delim = "\r\n--" + boundary;
  const auto p1 = r->find(delim + "\r\nContent-Type: text/plain; charset=UTF-8\r\n");
  const auto p2 = r->find(delim + "\r\nContent-Type: text/html; charset=UTF-8\r\n");
  const auto close = r->find(delim + "--\r\n");
  ASSERT_NE(p1, std::string::npos) << *r;
  ASSERT_NE(p2, std::string::npos) << *r;
  ASSERT_NE(close, std::string::npos) << *r;
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, close);
  EXPECT_NE(r->find("Content-Transfer-Encoding: quoted-printable\r\n\r\nplain body" + delim),
            std::string::npos);
  EXPECT_NE(
      r->find("Content-Transfer-Encoding: quoted-printable\r\n\r\n<b>html body</b>" + delim + "--"),
      std::string::npos);
  // Same seed, same message; another seed, another boundary and Message-ID.
  EXPECT_EQ(*BuildMimeMessage(m, FixedOptions()), *r);
  MimeOptions other = FixedOptions();
  other.boundary_seed = "seed-2";
  const std::string r2 = *BuildMimeMessage(m, other);
  EXPECT_EQ(r2.find(boundary), std::string::npos);
  EXPECT_NE(HeaderValue(r2, "Message-ID"), HeaderValue(*r, "Message-ID"));
}

TEST(SmtpMime, SinglePartWhenOnlyOneBody) {
  EmailMessage html_only{.to = "a@example.org", .subject = "s", .html = "<p>x</p>"};
  auto r = BuildMimeMessage(html_only, FixedOptions());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(HeaderValue(*r, "Content-Type"), "text/html; charset=UTF-8");
  EXPECT_EQ(HeaderValue(*r, "Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_EQ(r->find("multipart"), std::string::npos);
  EXPECT_EQ(r->substr(r->find("\r\n\r\n") + 4), "<p>x</p>\r\n");

  EmailMessage text_only{.to = "a@example.org", .subject = "s", .text = "line\n"};
  r = BuildMimeMessage(text_only, FixedOptions());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(HeaderValue(*r, "Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(r->substr(r->find("\r\n\r\n") + 4), "line\r\n");
}

TEST(SmtpMime, UnicodeSubjectIsEncodedWordsThatDecodeBack) {
  EmailMessage m{.to = "a@example.org", .subject = kUnicodeSubject, .text = "x"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value());
  const std::string subject = HeaderValue(*r, "Subject");
  EXPECT_EQ(subject.rfind("=?UTF-8?B?", 0), 0u) << subject;
  EXPECT_EQ(DecodeEncodedWords(subject), kUnicodeSubject);
  const auto head = r->substr(0, r->find("\r\n\r\n"));
  for (unsigned char c : head) ASSERT_LT(c, 0x80) << "8-bit byte in the header";
}

TEST(SmtpMime, LongUnicodeSubjectFoldsWithinLimits) {
  std::string subject;
  for (int i = 0; i < 12; ++i) subject += kUnicodeSubject + " 🚚 ";
  EmailMessage m{.to = "a@example.org", .subject = subject, .text = "x"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value());
  const std::string field = FoldUnstructuredHeader("Subject", subject);
  const auto lines = Lines(field);
  EXPECT_GT(lines.size(), 4u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 78u) << lines[i];
    if (i > 0) {
      EXPECT_EQ(lines[i][0], ' ');
    }
    std::size_t pos = 0;
    while ((pos = lines[i].find("=?", pos)) != std::string::npos) {
      const auto end = lines[i].find("?=", pos + 10);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end + 2 - pos, 75u) << "encoded word too long";
      // No word may end inside a UTF-8 sequence.
      const std::string bytes = Base64Decode(lines[i].substr(pos + 10, end - pos - 10));
      ASSERT_FALSE(bytes.empty());
      const auto lead = static_cast<unsigned char>(bytes.front());
      EXPECT_FALSE(lead >= 0x80 && lead < 0xC0) << "word starts mid-character";
      pos = end + 2;
    }
  }
  EXPECT_EQ(DecodeEncodedWords(HeaderValue(*r, "Subject")), subject);
}

TEST(SmtpMime, LongAsciiSubjectFoldsAtSpaces) {
  std::string subject;
  for (int i = 0; i < 30; ++i) subject += "word" + std::to_string(i) + " ";
  subject += "end";
  const std::string field = FoldUnstructuredHeader("Subject", subject);
  for (const auto& line : Lines(field)) EXPECT_LE(line.size(), 78u) << line;
  EXPECT_EQ(field.find("=?"), std::string::npos);
  std::string unfolded = field;
  for (std::size_t p; (p = unfolded.find("\r\n")) != std::string::npos;) unfolded.erase(p, 2);
  EXPECT_EQ(unfolded, "Subject: " + subject);
  // Text that would read as an encoded word is encoded itself.
  EXPECT_EQ(DecodeEncodedWords(FoldUnstructuredHeader("Subject", "=?x?=").substr(9)), "=?x?=");
}

TEST(SmtpMime, QuotedPrintableKeepsLinesShortAndRoundTrips) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Întâi ✓ a=b ";
  text += "trailing space   \nshort\r\nnext\rlast\t";
  const std::string qp = EncodeQuotedPrintable(text);
  for (const auto& line : Lines(qp)) {
    EXPECT_LE(line.size(), 76u) << line;
    if (!line.empty()) {
      EXPECT_NE(line.back(), ' ') << "unencoded trailing space";
      EXPECT_NE(line.back(), '\t');
    }
    for (unsigned char c : line) ASSERT_LT(c, 0x80);
  }
  EXPECT_EQ(qp.find('\n') == std::string::npos, false);
  std::string expected = text;
  for (std::size_t p; (p = expected.find("\r\n")) != std::string::npos;)
    expected.replace(p, 2, "\n");
  for (auto& c : expected) c = c == '\r' ? '\n' : c;
  std::string decoded = QpDecode(qp);
  for (std::size_t p; (p = decoded.find("\r\n")) != std::string::npos;) decoded.replace(p, 2, "\n");
  EXPECT_EQ(decoded, expected);
  EXPECT_EQ(EncodeQuotedPrintable("a=b"), "a=3Db");
  EXPECT_EQ(EncodeQuotedPrintable("x \ny"), "x=20\r\ny");
  // A 76th character only fits with the soft break after it.
  const std::string qp76 = EncodeQuotedPrintable(std::string(76, 'a'));
  EXPECT_EQ(qp76, std::string(75, 'a') + "=\r\na");
}

TEST(SmtpMime, HeaderInjectionIsRefused) {
  const EmailMessage base{.to = "a@example.org", .subject = "s", .text = "x"};
  EmailMessage m = base;
  m.subject = "Hi\r\nBcc: victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  m.subject = "Hi\nBcc: victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  m.from = "Shop <shop@example.com>\r\nBcc: victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  m.to = "a@example.org\r\nBcc: victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  m.unsubscribe_url = "https://example.com/u\r\nBcc: victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  m.to = "a@example.org, victim@example.net";
  EXPECT_FALSE(BuildMimeMessage(m, FixedOptions()).has_value());
  m = base;
  MimeOptions no_from = FixedOptions();
  no_from.from_default.clear();
  EXPECT_FALSE(BuildMimeMessage(m, no_from).has_value());
}

TEST(SmtpMime, ListUnsubscribeHeadersForOneClick) {
  EmailMessage m{.to = "a@example.org",
                 .subject = "s",
                 .text = "x",
                 .unsubscribe_url = "https://example.com/u?t=abc"};
  auto r = BuildMimeMessage(m, FixedOptions());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(HeaderValue(*r, "List-Unsubscribe"), "<https://example.com/u?t=abc>");
  EXPECT_EQ(HeaderValue(*r, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
}

TEST(SmtpMime, DisplayNamesAreQuotedOrEncoded) {
  EmailMessage m{.to = "a@example.org", .subject = "s", .text = "x"};
  m.from = "Doe, John <john@example.com>";
  EXPECT_EQ(HeaderValue(*BuildMimeMessage(m, FixedOptions()), "From"),
            "\"Doe, John\" <john@example.com>");
  m.from = "\"Say \\\"hi\\\"\" <hi@example.com>";
  EXPECT_EQ(HeaderValue(*BuildMimeMessage(m, FixedOptions()), "From"),
            "\"Say \\\"hi\\\"\" <hi@example.com>");
  m.from = "Magazinul Ștefan <s@example.com>";
  const std::string from = HeaderValue(*BuildMimeMessage(m, FixedOptions()), "From");
  EXPECT_EQ(from.rfind("=?UTF-8?B?", 0), 0u) << from;
  EXPECT_EQ(DecodeEncodedWords(from), "Magazinul Ștefan <s@example.com>");
  m.from = "plain@example.com";
  EXPECT_EQ(HeaderValue(*BuildMimeMessage(m, FixedOptions()), "From"), "plain@example.com");
}

TEST(SmtpMime, AddrSpecOf) {
  EXPECT_EQ(AddrSpecOf("Shop <shop@example.com>"), "shop@example.com");
  EXPECT_EQ(AddrSpecOf("  shop@example.com "), "shop@example.com");
  EXPECT_EQ(AddrSpecOf("\"a <b>\" <c@example.com>"), "c@example.com");
  EXPECT_EQ(AddrSpecOf("<x@example.com>"), "x@example.com");
}

TEST(SmtpMime, Rfc5322Date) {
  EXPECT_EQ(FormatRfc5322Date(FixedDate()), "Tue, 05 Mar 2024 14:03:09 +0000");
  using namespace std::chrono;
  EXPECT_EQ(FormatRfc5322Date(sys_days{year{2000} / January / 1}),
            "Sat, 01 Jan 2000 00:00:00 +0000");
}

// --- MapResponse ----------------------------------------------------------------

http::Response Reply(long status, std::string body = {}) {  // NOLINT(google-runtime-int)
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(SmtpProviderMap, CodesToStatuses) {
  EXPECT_EQ(SmtpProvider::MapResponse(Reply(250)).status, SendStatus::accepted);
  for (long code : {421, 450, 451, 452}) {  // NOLINT(google-runtime-int)
    const auto r = SmtpProvider::MapResponse(Reply(code));
    EXPECT_EQ(r.status, SendStatus::retry) << code;
    EXPECT_EQ(r.reason, "smtp_" + std::to_string(code));
  }
  for (long code : {550, 551, 553}) {  // NOLINT(google-runtime-int)
    const auto r = SmtpProvider::MapResponse(Reply(code, std::to_string(code) + " no such user"));
    EXPECT_EQ(r.status, SendStatus::invalid_address) << code;
    EXPECT_EQ(r.reason, "smtp_" + std::to_string(code));
  }
  EXPECT_EQ(SmtpProvider::MapResponse(Reply(550, "550 5.1.1 <a@b>: unknown\r\n")).status,
            SendStatus::invalid_address);
  // Policy refusals and sender problems are not the recipient's fault.
  EXPECT_EQ(SmtpProvider::MapResponse(Reply(550, "550 5.7.1 Relaying denied\r\n")).status,
            SendStatus::permanent);
  EXPECT_EQ(SmtpProvider::MapResponse(Reply(553, "553 5.1.8 Bad sender domain\r\n")).status,
            SendStatus::permanent);
  for (long code : {552, 554}) {  // NOLINT(google-runtime-int)
    EXPECT_EQ(SmtpProvider::MapResponse(Reply(code)).status, SendStatus::permanent) << code;
  }
  const auto auth = SmtpProvider::MapResponse(Reply(535));
  EXPECT_EQ(auth.status, SendStatus::permanent);
  EXPECT_EQ(auth.reason, "auth");
}

TEST(SmtpProviderMap, TransportErrors) {
  http::Response r;
  r.error = http::TransportError::timeout;
  EXPECT_EQ(SmtpProvider::MapResponse(r).status, SendStatus::retry);
  EXPECT_EQ(SmtpProvider::MapResponse(r).reason, "timeout");
  r.error = http::TransportError::connect;
  EXPECT_EQ(SmtpProvider::MapResponse(r).status, SendStatus::retry);
  r.error = http::TransportError::tls;
  EXPECT_EQ(SmtpProvider::MapResponse(r).status, SendStatus::permanent);
  EXPECT_EQ(SmtpProvider::MapResponse(r).reason, "tls");
}

// --- Against a real SMTP server (Node smtp-server + mailparser) ------------------

constexpr const char* kUser = "omnigate";
constexpr const char* kPassword = "s3cret-pw";
constexpr const char* kRejected = "nobody@example.net";

class SmtpProviderTest : public ::testing::Test {
 protected:
  SmtpProviderTest() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

  ~SmtpProviderTest() override {
    RunOnIo([this] {
      provider_.reset();
      transport_.reset();
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Starts the Node server; returns its port (0 on failure).
  int StartSink(std::vector<std::string> extra = {}) {
    const std::string script = std::string(OMNIGATE_SOURCE_DIR) + "/tests/node/smtp_sink.js";
    std::vector<std::string> argv = {"/usr/bin/env", "node", script};
    for (const auto& [flag, value] : {std::pair<std::string, std::string>{"--out", out_path()},
                                      {"--port-file", dir_.File("port")},
                                      {"--user", kUser},
                                      {"--pass", kPassword},
                                      {"--reject-rcpt", kRejected}}) {
      argv.push_back(flag);
      argv.push_back(value);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    sink_.emplace(argv, dir_.File("sink.log"));
    const bool up = testing::WaitFor(
        [&] { return !testing::ReadFile(dir_.File("port")).empty() || !sink_->running(); });
    const std::string port = testing::ReadFile(dir_.File("port"));
    if (!up || port.empty()) {
      ADD_FAILURE() << "smtp_sink did not start: " << testing::ReadFile(dir_.File("sink.log"));
      return 0;
    }
    return std::stoi(port);
  }

  // A self-signed certificate for 127.0.0.1 / localhost; it is its own CA.
  void MakeCertificate() {
    std::string output;
    const int rc = testing::RunCommand(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key_path(), "-out", cert_path(), "-days", "2", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"},
        &output);
    ASSERT_EQ(rc, 0) << "openssl req failed";
  }

  SmtpConfig Config(int port, std::string scheme = "smtp") const {
    SmtpConfig c;
    c.url = scheme + "://127.0.0.1:" + std::to_string(port);
    c.username = kUser;
    c.password = kPassword;
    c.starttls = false;
    c.from_default = "Magazinul Ștefan <shop@example.com>";
    c.message_id_domain = "mail.example.com";
    c.http.timeout = 15s;
    return c;
  }

  // (Re)creates the Transport and the provider on the io thread.
  void Connect(const SmtpConfig& config, http::TransportOptions options = {}) {
    auto shared = std::make_shared<const SmtpConfig>(config);
    RunOnIo([&] {
      provider_.reset();
      transport_ = std::make_unique<http::Transport>(io_, options);
      provider_ = std::make_unique<SmtpProvider>("smtp-test", shared, *transport_, 4);
    });
  }

  SendResult Send(const EmailMessage& email) {
    auto promise = std::make_shared<std::promise<SendResult>>();
    auto future = promise->get_future();
    RunOnIo([&] {
      OutboundMessage msg;
      msg.request_id = "req-1";
      msg.channel = Channel::email;
      msg.email = email;
      provider_->Send(msg, [promise](SendResult r) { promise->set_value(std::move(r)); });
    });
    if (future.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no send result within 30 s";
      return {.reason = "test_timeout"};
    }
    return future.get();
  }

  // The messages the server received, as parsed JSON lines.
  std::vector<simdjson::dom::element> Received(std::size_t at_least) {
    testing::WaitFor([&] { return CountLines(testing::ReadFile(out_path())) >= at_least; }, 10s);
    received_raw_ = testing::ReadFile(out_path());
    std::vector<simdjson::dom::element> out;
    docs_.clear();
    std::size_t start = 0;
    while (start < received_raw_.size()) {
      const auto eol = received_raw_.find('\n', start);
      docs_.push_back(std::make_unique<simdjson::dom::parser>());
      simdjson::dom::element e;
      if (docs_.back()->parse(received_raw_.data() + start, eol - start).get(e) ==
          simdjson::SUCCESS) {
        out.push_back(e);
      }
      start = eol + 1;
    }
    return out;
  }

  static std::string Str(simdjson::dom::element e, const char* key) {
    std::string_view v;
    if (e[key].get(v) != simdjson::SUCCESS) return "<missing>";
    return std::string(v);
  }

  static std::size_t CountLines(const std::string& s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }

  std::string out_path() const { return dir_.File("messages.jsonl"); }
  std::string key_path() const { return dir_.File("key.pem"); }
  std::string cert_path() const { return dir_.File("cert.pem"); }

  void RunOnIo(const std::function<void()>& f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  static EmailMessage FullMessage() {
    return {.to = "ana@example.org",
            .subject = kUnicodeSubject,
            .text = kText,
            .html = kHtml,
            .unsubscribe_url = "https://shop.example.com/unsubscribe?t=42"};
  }

  static constexpr const char* kText =
      "Salut Ana,\n\nComanda ta a fost expediată. ✓ Urmărește coletul aici: "
      "https://shop.example.com/track/0123456789abcdef0123456789abcdef\n.\n..leading dots\n";
  static constexpr const char* kHtml =
      "<p>Salut Ana,</p><p>Comanda ta a fost <b>expediată</b> ✓</p>\n.\n";

  testing::TempDir dir_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::optional<testing::ChildProcess> sink_;
  std::unique_ptr<http::Transport> transport_;
  std::unique_ptr<SmtpProvider> provider_;
  std::string received_raw_;
  std::vector<std::unique_ptr<simdjson::dom::parser>> docs_;
};

TEST_F(SmtpProviderTest, DeliversTextHtmlUnicodeSubjectAndUnsubscribe) {
  const int port = StartSink();
  ASSERT_GT(port, 0);
  Connect(Config(port));
  const SendResult r = Send(FullMessage());
  ASSERT_EQ(r.status, SendStatus::accepted) << r.reason;
  EXPECT_NE(r.provider_message_id.find("@mail.example.com"), std::string::npos);
  EXPECT_EQ(r.provider_message_id.find('<'), std::string::npos);

  const auto got = Received(1);
  ASSERT_EQ(got.size(), 1u) << received_raw_;
  const auto m = got[0];
  EXPECT_EQ(Str(m, "subject"), kUnicodeSubject);
  EXPECT_EQ(Str(m, "text"), kText);
  EXPECT_EQ(Str(m, "html"), kHtml);
  EXPECT_EQ(Str(m["from"], "name"), "Magazinul Ștefan");
  EXPECT_EQ(Str(m["from"], "address"), "shop@example.com");
  EXPECT_EQ(Str(m, "to"), "ana@example.org");
  EXPECT_EQ(Str(m, "message_id"), "<" + r.provider_message_id + ">");
  EXPECT_EQ(Str(m["envelope"], "mail_from"), "shop@example.com");
  EXPECT_EQ(Str(m, "user"), kUser);
  EXPECT_EQ(Str(m["headers"], "list-unsubscribe"), "<https://shop.example.com/unsubscribe?t=42>");
  EXPECT_EQ(Str(m["headers"], "list-unsubscribe-post"), "List-Unsubscribe=One-Click");
  int64_t max_line = 0;
  ASSERT_EQ(m["max_line"].get(max_line), simdjson::SUCCESS);
  EXPECT_LE(max_line, 78);
  bool bare_lf = true;
  ASSERT_EQ(m["bare_lf"].get(bare_lf), simdjson::SUCCESS);
  EXPECT_FALSE(bare_lf);
}

TEST_F(SmtpProviderTest, RefusedRecipientIsInvalidAddressAndTheHandleIsReusable) {
  const int port = StartSink();
  ASSERT_GT(port, 0);
  Connect(Config(port));
  EXPECT_EQ(Send(FullMessage()).status, SendStatus::accepted);
  EmailMessage bad = FullMessage();
  bad.to = kRejected;
  const SendResult r = Send(bad);
  EXPECT_EQ(r.status, SendStatus::invalid_address) << r.reason;
  EXPECT_EQ(r.reason, "smtp_550");
  EmailMessage again = FullMessage();
  again.subject = "after the refusal";
  again.unsubscribe_url = {};
  EXPECT_EQ(Send(again).status, SendStatus::accepted);
  const auto got = Received(2);
  ASSERT_EQ(got.size(), 2u) << received_raw_;
  EXPECT_EQ(Str(got[1], "subject"), "after the refusal");
  EXPECT_EQ(Str(got[1]["headers"], "list-unsubscribe"), "<missing>");
}

TEST_F(SmtpProviderTest, WrongPasswordIsPermanent535) {
  const int port = StartSink();
  ASSERT_GT(port, 0);
  SmtpConfig c = Config(port);
  c.password = "wrong";
  Connect(c);
  const SendResult r = Send(FullMessage());
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "auth");
  EXPECT_EQ(CountLines(testing::ReadFile(out_path())), 0u);
}

TEST_F(SmtpProviderTest, ServerNotListeningIsRetry) {
  int port = 0;
  {
    asio::io_context probe_io;
    asio::ip::tcp::acceptor probe(probe_io, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  Connect(Config(port));
  const SendResult r = Send(FullMessage());
  EXPECT_EQ(r.status, SendStatus::retry);
  EXPECT_EQ(r.reason, "connect");
}

TEST_F(SmtpProviderTest, StartTlsWithVerifiedCertificate) {
  MakeCertificate();
  const int port = StartSink({"--key", key_path(), "--cert", cert_path()});
  ASSERT_GT(port, 0);
  SmtpConfig c = Config(port);
  c.starttls = true;
  Connect(c, {.ca_file = cert_path()});
  const SendResult r = Send(FullMessage());
  ASSERT_EQ(r.status, SendStatus::accepted) << r.reason;
  const auto got = Received(1);
  ASSERT_EQ(got.size(), 1u);
  bool secure = false;
  ASSERT_EQ(got[0]["secure"].get(secure), simdjson::SUCCESS);
  EXPECT_TRUE(secure);
  EXPECT_EQ(Str(got[0], "subject"), kUnicodeSubject);
}

TEST_F(SmtpProviderTest, ImplicitTlsSmtps) {
  MakeCertificate();
  const int port = StartSink({"--secure", "--key", key_path(), "--cert", cert_path()});
  ASSERT_GT(port, 0);
  Connect(Config(port, "smtps"), {.ca_file = cert_path()});
  const SendResult r = Send(FullMessage());
  ASSERT_EQ(r.status, SendStatus::accepted) << r.reason;
  const auto got = Received(1);
  ASSERT_EQ(got.size(), 1u);
  bool secure = false;
  ASSERT_EQ(got[0]["secure"].get(secure), simdjson::SUCCESS);
  EXPECT_TRUE(secure);
}

TEST_F(SmtpProviderTest, UntrustedCertificateIsPermanentTls) {
  MakeCertificate();
  // The server presents smtp-server's built-in certificate, not ours.
  const int port = StartSink();
  ASSERT_GT(port, 0);
  SmtpConfig c = Config(port);
  c.starttls = true;
  Connect(c, {.ca_file = cert_path()});
  const SendResult r = Send(FullMessage());
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "tls");
  EXPECT_EQ(CountLines(testing::ReadFile(out_path())), 0u);
}

TEST_F(SmtpProviderTest, MissingStartTlsIsPermanentTlsWhenRequired) {
  const int port = StartSink({"--no-starttls"});
  ASSERT_GT(port, 0);
  SmtpConfig c = Config(port);
  c.starttls = true;
  Connect(c);
  const SendResult r = Send(FullMessage());
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "tls");
  EXPECT_EQ(CountLines(testing::ReadFile(out_path())), 0u);
}

TEST_F(SmtpProviderTest, InvalidMessageIsPermanentWithoutContactingTheServer) {
  Connect(Config(1));
  EmailMessage m = FullMessage();
  m.subject = "x\r\nBcc: victim@example.net";
  const SendResult r = Send(m);
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "invalid_message");
}

}  // namespace
}  // namespace omnigate::providers
