#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <string>

#include "providers/generic/generic_provider.h"
#include "tests/providers/fake_response.h"

namespace omnigate::providers {
namespace {

using namespace std::chrono_literals;

OutboundMessage Sms() {
  OutboundMessage m;
  m.request_id = "req-1";
  m.tenant = "acme";
  m.channel = Channel::sms;
  m.attempt = 3;
  m.sms = {.to = "+40700000001", .text = "Hi Ana & co", .sender = "Shop"};
  return m;
}

OutboundMessage Email() {
  OutboundMessage m;
  m.request_id = "req-2";
  m.tenant = "acme";
  m.channel = Channel::email;
  m.email = {.to = "ana@example.com",
             .from = "Shop <noreply@shop.example>",
             .subject = "Subj",
             .text = "plain",
             .html = "<b>h</b>",
             .unsubscribe_url = "https://shop.example/u"};
  return m;
}

OutboundMessage ViberMsg() {
  OutboundMessage m;
  m.request_id = "req-3";
  m.tenant = "acme";
  m.channel = Channel::viber;
  m.viber = {.to = "vid-1",
             .text = "vtext",
             .image_url = "https://cdn.example/i.png",
             .button_caption = "Go",
             .button_url = "https://shop.example/go"};
  return m;
}

std::string Render(std::string_view text, const OutboundMessage& m) {
  auto t = MessageTemplate::Compile(text);
  EXPECT_TRUE(t.has_value()) << text << ": " << t.error();
  return t ? t->Render(m) : std::string();
}

std::string CompileError(std::string_view text) {
  auto t = MessageTemplate::Compile(text);
  EXPECT_FALSE(t.has_value()) << text;
  return t ? std::string() : t.error();
}

std::shared_ptr<const CompiledGenericHttp> Compile(GenericHttpConfig cfg) {
  auto c = CompiledGenericHttp::Compile(std::move(cfg));
  if (!c) {
    std::string all;
    for (const auto& e : c.error()) all += e + "; ";
    ADD_FAILURE() << all;
    return nullptr;
  }
  return *c;
}

std::vector<std::string> CompileErrors(GenericHttpConfig cfg) {
  auto c = CompiledGenericHttp::Compile(std::move(cfg));
  EXPECT_FALSE(c.has_value());
  return c ? std::vector<std::string>{} : c.error();
}

bool HasErrorStartingWith(const std::vector<std::string>& errors, std::string_view prefix) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const std::string& e) { return e.starts_with(prefix); });
}

// ----------------------------------------------------------------- templates

TEST(GenericHttpTemplate, EveryFieldOfAnSmsMessage) {
  EXPECT_EQ(Render("{{id}}|{{tenant}}|{{channel}}|{{attempt}}|{{to}}|{{text}}|{{sender}}", Sms()),
            "req-1|acme|sms|3|+40700000001|Hi Ana & co|Shop");
  // Fields of other channels render empty.
  EXPECT_EQ(Render("[{{from}}{{subject}}{{html}}{{unsubscribe_url}}{{image_url}}"
                   "{{button_caption}}{{button_url}}]",
                   Sms()),
            "[]");
}

TEST(GenericHttpTemplate, EveryFieldOfAnEmail) {
  EXPECT_EQ(Render("{{channel}} {{to}} {{from}} {{subject}} {{text}} {{html}} {{unsubscribe_url}}",
                   Email()),
            "email ana@example.com Shop <noreply@shop.example> Subj plain <b>h</b> "
            "https://shop.example/u");
}

TEST(GenericHttpTemplate, EveryFieldOfAViberMessage) {
  EXPECT_EQ(Render("{{channel}} {{to}} {{text}} {{image_url}} {{button_caption}} {{button_url}} "
                   "{{attempt}}",
                   ViberMsg()),
            "viber vid-1 vtext https://cdn.example/i.png Go https://shop.example/go 1");
}

TEST(GenericHttpTemplate, ToOfAWebPushIsTheEndpoint) {
  OutboundMessage m;
  m.channel = Channel::webpush;
  m.webpush.endpoint = "https://push.example.net/s/1";
  EXPECT_EQ(Render("{{channel}}:{{to}}", m), "webpush:https://push.example.net/s/1");
}

TEST(GenericHttpTemplate, Filters) {
  OutboundMessage m = Sms();
  m.sms.text = "a \"b\"\n& c/d=é~";
  EXPECT_EQ(Render("{{text|json}}", m), R"("a \"b\"\n& c/d=é~")");
  EXPECT_EQ(Render("{{text|url}}", m), "a%20%22b%22%0A%26%20c%2Fd%3D%C3%A9~");
  EXPECT_EQ(Render("{{text|form}}", m), "a+%22b%22%0A%26+c%2Fd%3D%C3%A9~");
  EXPECT_EQ(Render("{{text|none}}", m), "a \"b\"\n& c/d=é~");
  EXPECT_EQ(Render("{{text}}", m), "a \"b\"\n& c/d=é~");
  // Spaces inside the braces are allowed.
  EXPECT_EQ(Render("{{ to | url }}", m), "%2B40700000001");
  EXPECT_EQ(Render("{{attempt|json}}", m), R"("3")");
}

TEST(GenericHttpTemplate, LiteralsAroundPlaceholders) {
  EXPECT_EQ(Render("", Sms()), "");
  EXPECT_EQ(Render("no placeholders } { }", Sms()), "no placeholders } { }");
  EXPECT_EQ(Render(R"({"to":{{to|json}},"n":{{attempt}}})", Sms()),
            R"({"to":"+40700000001","n":3})");
  EXPECT_EQ(Render("{{id}}{{id}}", Sms()), "req-1req-1");
  EXPECT_TRUE(MessageTemplate::Compile("")->empty());
}

TEST(GenericHttpTemplate, CompileErrors) {
  const std::string unknown_field = CompileError("x {{phone}} y");
  EXPECT_EQ(unknown_field.rfind("unknown field 'phone' in {{...}}; known: id, tenant,", 0), 0u)
      << unknown_field;
  EXPECT_NE(unknown_field.find("button_url"), std::string::npos);
  EXPECT_EQ(CompileError("{{text|upper}}"), "unknown filter 'upper'; known: json, url, form, none, raw");
  EXPECT_EQ(CompileError("abc{{text"), "unterminated '{{' at offset 3");
  EXPECT_EQ(CompileError("{{id}} {{to|json}"), "unterminated '{{' at offset 7");
}

// ------------------------------------------------------------------- compile

TEST(GenericHttpCompile, ReportsEveryErrorWithItsKey) {
  GenericHttpConfig cfg;
  cfg.url = "https://agg.example/{{nope}}";
  cfg.headers = {{"X-Ref", "{{id|base64}}"}, {"X-Ok", "fine"}};
  cfg.body = "{{text";
  cfg.success_regex = "([a-z";
  cfg.message_id_regex = "id=\\w+";
  cfg.invalid_address_regex = "(*bad";
  cfg.success_json_pointer = "status";
  cfg.message_id_json_pointer = "data/id";
  const auto errors = CompileErrors(cfg);
  EXPECT_TRUE(HasErrorStartingWith(errors, "url: unknown field 'nope'"));
  EXPECT_TRUE(HasErrorStartingWith(errors, "headers.X-Ref: unknown filter 'base64'"));
  EXPECT_TRUE(HasErrorStartingWith(errors, "body: unterminated '{{' at offset 0"));
  EXPECT_TRUE(HasErrorStartingWith(errors, "success.regex: invalid regular expression: "));
  EXPECT_TRUE(HasErrorStartingWith(errors, "invalid_address_regex: invalid regular expression: "));
  EXPECT_TRUE(HasErrorStartingWith(
      errors, "message_id.regex: needs a capture group: the id is its first group"));
  EXPECT_TRUE(HasErrorStartingWith(errors, "success.json_pointer: must start with '/' (RFC 6901)"));
  EXPECT_TRUE(
      HasErrorStartingWith(errors, "message_id.json_pointer: must start with '/' (RFC 6901)"));
  EXPECT_EQ(errors.size(), 8u);
}

TEST(GenericHttpCompile, NonCapturingGroupIsNotACaptureGroup) {
  GenericHttpConfig cfg;
  cfg.message_id_regex = "id=(?:\\w+)";
  const auto errors = CompileErrors(cfg);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "message_id.regex: needs a capture group: the id is its first group");
}

TEST(GenericHttpCompile, ValidConfigCompiles) {
  GenericHttpConfig cfg;
  cfg.url = "https://agg.example/v1/sms?ref={{id|url}}";
  cfg.message_id_regex = "id=(\\w+)";
  cfg.success_json_pointer = "/status";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->config.url, cfg.url);
  EXPECT_TRUE(c->message_id_regex.has_value());
  EXPECT_FALSE(c->success_regex.has_value());
}

// ------------------------------------------------------------------- request

TEST(GenericHttpRequest, PostWithHeadersAndJsonBody) {
  GenericHttpConfig cfg;
  cfg.method = "POST";
  cfg.url = "https://api.agg.example/v1/sms?ref={{id|url}}&t={{tenant}}";
  cfg.headers = {{"Authorization", "Bearer k3y"},
                 {"Content-Type", "application/json"},
                 {"X-Request-Id", "{{id}}"}};
  cfg.body = R"({"to":{{to|json}},"text":{{text|json}},"from":{{sender|json}}})";
  cfg.http.timeout = 2500ms;
  cfg.http.connect_timeout = 700ms;
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Sms();
  m.request_id = "r 1/2";
  m.sms.text = "line1\n\"quoted\"";
  const http::Request req = GenericHttpProvider::BuildRequest(*c, m);
  EXPECT_EQ(req.method, http::Method::post);
  EXPECT_EQ(req.url, "https://api.agg.example/v1/sms?ref=r%201%2F2&t=acme");
  EXPECT_EQ(req.headers,
            (std::vector<std::string>{"Authorization: Bearer k3y", "Content-Type: application/json",
                                      "X-Request-Id: r 1/2"}));
  EXPECT_EQ(req.body, R"({"to":"+40700000001","text":"line1\n\"quoted\"","from":"Shop"})");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(req.body).get(doc), simdjson::SUCCESS);
  std::string_view text;
  ASSERT_EQ(doc["text"].get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "line1\n\"quoted\"");
  EXPECT_EQ(req.timeout, 2500ms);
  EXPECT_EQ(req.connect_timeout, 700ms);
}

TEST(GenericHttpRequest, MethodsAndFormBody) {
  GenericHttpConfig cfg;
  cfg.url = "https://agg.example/send?to={{to|url}}&msg={{text|url}}";
  cfg.body = "to={{to|form}}&text={{text|form}}";
  cfg.method = "GET";
  auto get = Compile(cfg);
  ASSERT_NE(get, nullptr);
  const http::Request g = GenericHttpProvider::BuildRequest(*get, Sms());
  EXPECT_EQ(g.method, http::Method::get);
  EXPECT_EQ(g.url, "https://agg.example/send?to=%2B40700000001&msg=Hi%20Ana%20%26%20co");
  EXPECT_TRUE(g.body.empty());

  cfg.method = "PUT";
  auto put = Compile(cfg);
  ASSERT_NE(put, nullptr);
  const http::Request p = GenericHttpProvider::BuildRequest(*put, Sms());
  EXPECT_EQ(p.method, http::Method::put);
  EXPECT_EQ(p.body, "to=%2B40700000001&text=Hi+Ana+%26+co");
}

TEST(GenericHttpRequest, ContentCannotInjectHeaders) {
  GenericHttpConfig cfg;
  cfg.url = "https://agg.example/";
  cfg.headers = {{"X-Text", "{{text}}"}, {"X-Sender", "{{sender|none}}"}};
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Sms();
  m.sms.text = "hi\r\nX-Evil: 1";
  m.sms.sender = "a\nb\rc";
  const http::Request req = GenericHttpProvider::BuildRequest(*c, m);
  ASSERT_EQ(req.headers.size(), 2u);
  EXPECT_EQ(req.headers[0], "X-Text: hi  X-Evil: 1");
  EXPECT_EQ(req.headers[1], "X-Sender: a b c");
  for (const auto& h : req.headers) {
    EXPECT_EQ(h.find_first_of("\r\n"), std::string::npos) << h;
  }
}

// ------------------------------------------------------------------ response

TEST(GenericHttpMapping, SuccessStatusIsAccepted) {
  GenericHttpConfig cfg;
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  for (long s : {200L, 201L, 202L}) {  // NOLINT(google-runtime-int)
    auto r = GenericHttpProvider::MapResponse(*c, Status(s, "anything"));
    EXPECT_EQ(r.status, SendStatus::accepted) << s;
    EXPECT_TRUE(r.provider_message_id.empty());
  }
  // 204 is not in the default list.
  auto other = GenericHttpProvider::MapResponse(*c, Status(204));
  EXPECT_EQ(other.status, SendStatus::permanent);
  EXPECT_EQ(other.reason, "http_204");

  cfg.success_status = {204};
  auto only_204 = Compile(cfg);
  ASSERT_NE(only_204, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*only_204, Status(204)).status, SendStatus::accepted);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*only_204, Status(200)).status, SendStatus::permanent);
}

TEST(GenericHttpMapping, JsonPointerCheck) {
  GenericHttpConfig cfg;
  cfg.success_json_pointer = "/result/status";
  cfg.success_equals = "ok";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(
      GenericHttpProvider::MapResponse(*c, Status(200, R"({"result":{"status":"ok"}})")).status,
      SendStatus::accepted);
  for (const std::string& body :
       {std::string(R"({"result":{"status":"error"}})"), std::string(R"({"result":{}})"),
        std::string("not json"), std::string(R"({"result":{"status":null}})")}) {
    auto r = GenericHttpProvider::MapResponse(*c, Status(200, body));
    EXPECT_EQ(r.status, SendStatus::permanent) << body;
    EXPECT_EQ(r.reason, "unexpected_body") << body;
  }

  // Numbers and booleans compare in their JSON spelling.
  cfg.success_json_pointer = "/code";
  cfg.success_equals = "0";
  auto numeric = Compile(cfg);
  ASSERT_NE(numeric, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*numeric, Status(200, R"({"code":0})")).status,
            SendStatus::accepted);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*numeric, Status(200, R"({"code":10})")).status,
            SendStatus::permanent);

  // Without `equals`, the pointer only has to find something.
  cfg.success_json_pointer = "/id";
  cfg.success_equals.clear();
  auto present = Compile(cfg);
  ASSERT_NE(present, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*present, Status(200, R"({"id":true})")).status,
            SendStatus::accepted);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*present, Status(200, R"({"x":1})")).reason,
            "unexpected_body");
}

TEST(GenericHttpMapping, RegexCheck) {
  GenericHttpConfig cfg;
  cfg.success_regex = "^OK\\b";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*c, Status(200, "OK 12345")).status,
            SendStatus::accepted);
  auto r = GenericHttpProvider::MapResponse(*c, Status(200, "ERR 7"));
  EXPECT_EQ(r.status, SendStatus::permanent);
  EXPECT_EQ(r.reason, "unexpected_body");
}

TEST(GenericHttpMapping, MessageIdFromHeader) {
  GenericHttpConfig cfg;
  cfg.message_id_header = "X-Message-Id";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  auto r = GenericHttpProvider::MapResponse(*c, Status(202, "", {{"x-message-id", "abc-1"}}));
  EXPECT_EQ(r.status, SendStatus::accepted);
  EXPECT_EQ(r.provider_message_id, "abc-1");
}

TEST(GenericHttpMapping, MessageIdFromJsonPointer) {
  GenericHttpConfig cfg;
  cfg.message_id_json_pointer = "/data/0/id";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*c, Status(200, R"({"data":[{"id":"m-77"}]})"))
                .provider_message_id,
            "m-77");
  EXPECT_EQ(
      GenericHttpProvider::MapResponse(*c, Status(200, R"({"data":[{"id":5741311803571721087}]})"))
          .provider_message_id,
      "5741311803571721087");
  auto missing = GenericHttpProvider::MapResponse(*c, Status(200, R"({"data":[]})"));
  EXPECT_EQ(missing.status, SendStatus::accepted);
  EXPECT_TRUE(missing.provider_message_id.empty());
}

TEST(GenericHttpMapping, MessageIdFromRegexCapture) {
  GenericHttpConfig cfg;
  cfg.message_id_regex = "id=(\\w+)";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(GenericHttpProvider::MapResponse(*c, Status(200, "OK; id=Ab12_x; cost=1"))
                .provider_message_id,
            "Ab12_x");
  EXPECT_TRUE(GenericHttpProvider::MapResponse(*c, Status(200, "OK")).provider_message_id.empty());
}

TEST(GenericHttpMapping, InvalidAddressRegexOnAClientError) {
  GenericHttpConfig cfg;
  cfg.invalid_address_regex = "invalid_(number|msisdn)";
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  auto bad_number =
      GenericHttpProvider::MapResponse(*c, Status(400, R"({"error":"invalid_msisdn"})"));
  EXPECT_EQ(bad_number.status, SendStatus::invalid_address);
  EXPECT_EQ(bad_number.reason, "http_400");
  auto other = GenericHttpProvider::MapResponse(*c, Status(400, R"({"error":"bad_json"})"));
  EXPECT_EQ(other.status, SendStatus::permanent);
  EXPECT_EQ(other.reason, "http_400");
}

TEST(GenericHttpMapping, CommonOutcomes) {
  GenericHttpConfig cfg;
  cfg.invalid_address_regex = ".";  // must not turn these into invalid_address
  auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  auto throttled = GenericHttpProvider::MapResponse(*c, Status(429, "x", {{"retry-after", "9"}}));
  EXPECT_EQ(throttled.status, SendStatus::throttled);
  EXPECT_EQ(throttled.retry_after, 9s);
  auto unavailable = GenericHttpProvider::MapResponse(*c, Status(503, "x"));
  EXPECT_EQ(unavailable.status, SendStatus::retry);
  EXPECT_EQ(unavailable.reason, "http_503");
  auto auth = GenericHttpProvider::MapResponse(*c, Status(401, "x"));
  EXPECT_EQ(auth.status, SendStatus::permanent);
  EXPECT_EQ(auth.reason, "auth");
  auto timeout = GenericHttpProvider::MapResponse(*c, Failed(http::TransportError::timeout));
  EXPECT_EQ(timeout.status, SendStatus::retry);
  EXPECT_EQ(timeout.reason, "timeout");
  auto tls = GenericHttpProvider::MapResponse(*c, Failed(http::TransportError::tls));
  EXPECT_EQ(tls.status, SendStatus::permanent);
  EXPECT_EQ(tls.reason, "tls");
}

std::string RenderUrl(std::string_view text, const OutboundMessage& m) {
  auto t = MessageTemplate::CompileUrl(text);
  EXPECT_TRUE(t.has_value()) << text << ": " << t.error();
  return t ? t->Render(m) : std::string();
}

// In a URL template every field is percent-encoded unless the operator asked
// for the raw text: the exact values of the hardening issue.
TEST(GenericHttpUrl, FieldsArePercentEncodedUnlessRawIsAskedFor) {
  using namespace std::string_view_literals;
  OutboundMessage m = Sms();
  m.request_id = "../../admin/purge?all=1#";
  m.sms.text = "a\0b c/d?e#f&g=h~._-"sv;
  EXPECT_EQ(RenderUrl("https://agg.example/v1/{{id}}/send?text={{text}}", m),
            "https://agg.example/v1/..%2F..%2Fadmin%2Fpurge%3Fall%3D1%23/send"
            "?text=a%00b%20c%2Fd%3Fe%23f%26g%3Dh~._-");
  EXPECT_EQ(RenderUrl("https://agg.example/?ref={{id|url}}&t={{text|form}}", m),
            "https://agg.example/?ref=..%2F..%2Fadmin%2Fpurge%3Fall%3D1%23"
            "&t=a%00b+c%2Fd%3Fe%23f%26g%3Dh~._-");
  EXPECT_EQ(RenderUrl("https://agg.example/{{id|raw}}", m),
            "https://agg.example/../../admin/purge?all=1#");
  const auto raw = MessageTemplate::CompileUrl("https://a/{{id|raw}}?x={{to}}&y={{text|raw}}");
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->raw_fields(), (std::vector<std::string>{"id", "text"}));

  for (const char* filter : {"json", "none"}) {
    const auto refused = MessageTemplate::CompileUrl(std::string("https://a/{{id|") + filter + "}}");
    ASSERT_FALSE(refused.has_value()) << filter;
    EXPECT_NE(refused.error().find("does not encode for a URL"), std::string::npos)
        << refused.error();
  }
  // Body and header templates keep their own escaping, NUL and controls included.
  m.sms.text = "q\"\\\0\x01\x1f\x7f\n"sv;
  EXPECT_EQ(Render("{{text|json}}", m), "\"q\\\"\\\\\\u0000\\u0001\\u001f\x7f\\n\"");
  EXPECT_EQ(Render("{{text|form}}", m), "q%22%5C%00%01%1F%7F%0A");
}

// A field placed where it could choose the host marks the request's
// destination untrusted (checked against the address policy at connect
// time); fields confined to the path and query do not.
TEST(GenericHttpUrl, FieldInTheAuthorityMarksTheDestinationUntrusted) {
  const auto untrusted = [](const std::string& url) {
    GenericHttpConfig cfg;
    cfg.url = url;
    const auto c = Compile(cfg);
    return c ? GenericHttpProvider::BuildRequest(*c, Sms()).untrusted_destination : false;
  };
  EXPECT_TRUE(untrusted("{{to|raw}}"));
  EXPECT_TRUE(untrusted("https://{{tenant}}.agg.example/send"));
  EXPECT_TRUE(untrusted("https://agg.example:{{attempt}}/send"));
  EXPECT_TRUE(untrusted("https://agg.example{{id|raw}}"));
  EXPECT_FALSE(untrusted("https://agg.example/{{id|raw}}"));
  EXPECT_FALSE(untrusted("https://agg.example?to={{to}}"));
  EXPECT_FALSE(untrusted("https://agg.example/send"));
}

// Header values lose CR, LF and NUL, which would end or cut the line.
TEST(GenericHttpUrl, HeaderValuesLoseLineBreaksAndNul) {
  using namespace std::string_view_literals;
  GenericHttpConfig cfg;
  cfg.url = "https://agg.example/send";
  cfg.headers = {{"X-Text", "{{text}}"}};
  const auto c = Compile(cfg);
  ASSERT_NE(c, nullptr);
  OutboundMessage m = Sms();
  m.sms.text = "a\r\nb\0c"sv;
  const http::Request r = GenericHttpProvider::BuildRequest(*c, m);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], "X-Text: a  b c"sv);
}

}  // namespace
}  // namespace omnigate::providers
