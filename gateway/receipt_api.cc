#include "gateway/receipt_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <variant>

#include "common/json.h"
#include "gateway/event.h"
#include "gateway/message_status.h"
#include "gateway/policy/policy.h"
#include "providers/generic/generic_receipt.h"
#include "providers/log_throttle.h"
#include "providers/receipt.h"
#include "providers/sendgrid/sendgrid_receipt.h"
#include "providers/twilio/twilio_receipt.h"
#include "providers/viber/viber_receipt.h"
#include "queue/kafka_producer.h"

namespace omnigate::gateway {
namespace {

using providers::Receipt;
using providers::ReceiptStatus;
using std::chrono::milliseconds;

EventStatus ToEventStatus(ReceiptStatus s) {
  switch (s) {
    case ReceiptStatus::sent: return EventStatus::sent;
    case ReceiptStatus::delivered: return EventStatus::delivered;
    case ReceiptStatus::read: return EventStatus::read;
    case ReceiptStatus::undelivered: return EventStatus::undelivered;
    case ReceiptStatus::failed: return EventStatus::failed;
    case ReceiptStatus::opened: return EventStatus::opened;
    case ReceiptStatus::clicked: return EventStatus::clicked;
    case ReceiptStatus::unsubscribed: return EventStatus::unsubscribed;
    case ReceiptStatus::complained: return EventStatus::complained;
  }
  return EventStatus::sent;
}

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

HttpResponse Error(int status, std::string_view reason) {
  std::string body = "{\"error\":";
  AppendJsonString(reason, body);
  body += '}';
  return Json(status, std::move(body));
}

std::string_view Header(const HttpRequest& r, std::string_view name) {
  const std::string* v = r.header(name);
  return v == nullptr ? std::string_view() : std::string_view(*v);
}

// Counts event records Kafka did not take in the end (the producer retries
// on its own before that): the receipt is in the status store, its event
// is missing from the topic.
class EventDelivery final : public queue::DeliveryListener {
 public:
  explicit EventDelivery(GatewayMetrics& metrics) : metrics_(metrics) {}
  void OnDelivery(bool ok, std::string_view error, queue::ProduceError) override {
    if (ok) return;
    metrics_.event_delivery_failures.Inc();
    if (providers::ShouldLog("receipt-event", "", std::chrono::seconds(10))) {
      spdlog::warn("receipts: kafka did not take a receipt's event ({}); it is in the status "
                   "store (GET /v1/messages)",
                   error);
    }
  }

 private:
  GatewayMetrics& metrics_;
};

class ReceiptApi {
 public:
  explicit ReceiptApi(ReceiptApiOptions o) : o_(std::move(o)), delivery_(*o_.metrics) {}

  Result<Ok, std::string> Init() {
    for (const auto& pc : o_.config->providers) {
      const auto* sg = std::get_if<SendGridConfig>(&pc.settings);
      if (sg == nullptr || sg->webhook_public_key.empty()) continue;
      auto v = providers::SendGridWebhookVerifier::FromPublicKey(sg->webhook_public_key);
      if (!v) return MakeUnexpected(pc.name + ": webhook_public_key: " + v.error());
      sendgrid_.emplace(pc.name, std::move(v).value());
    }
    return Ok{};
  }

  HttpResponse Post(const HttpRequest& r) {
    constexpr std::string_view kPrefix = "/v1/receipts/";
    const std::string_view name = std::string_view(r.target).substr(kPrefix.size());
    const ProviderConfig* pc = nullptr;
    for (const auto& p : o_.config->providers) {
      if (p.name == name) pc = &p;
    }
    if (pc == nullptr) return Error(404, "no provider named '" + std::string(name) + "'");
    ProviderMetrics* m = o_.metrics->FindProvider(pc->name);
    auto count = [m](ReceiptOutcome outcome, std::uint64_t n = 1) {
      if (m != nullptr) m->receipts[static_cast<std::size_t>(outcome)].Inc(n);
    };
    auto parsed = Parse(*pc, r);
    if (!parsed) {
      const auto& e = parsed.error();
      count(e.http_status == 401 ? ReceiptOutcome::bad_signature : ReceiptOutcome::malformed);
      if (e.http_status == 404) return Error(404, e.reason);
      return Error(e.http_status, e.reason);
    }
    std::array<std::uint64_t, kReceiptOutcomeCount> n{};
    for (const Receipt& receipt : *parsed) {
      const auto outcome = Apply(*pc, receipt);
      if (!outcome) {
        count(ReceiptOutcome::unavailable);
        auto resp = Error(503, "the state store did not answer; send it again");
        resp.headers.emplace_back("Retry-After", "1");
        return resp;
      }
      ++n[static_cast<std::size_t>(*outcome)];
    }
    std::string body = "{";
    for (std::size_t i = 0; i < n.size(); ++i) {
      const auto outcome = static_cast<ReceiptOutcome>(i);
      if (outcome == ReceiptOutcome::bad_signature || outcome == ReceiptOutcome::malformed ||
          outcome == ReceiptOutcome::unavailable) {
        continue;
      }
      count(outcome, n[i]);
      fmt::format_to(std::back_inserter(body), "{}\"{}\":{}", body.size() > 1 ? "," : "",
                     ReceiptOutcomeLabel(outcome), n[i]);
    }
    body += '}';
    return Json(200, std::move(body));
  }

 private:
  providers::ReceiptResult Parse(const ProviderConfig& pc, const HttpRequest& r) {
    if (const auto* t = std::get_if<TwilioConfig>(&pc.settings)) {
      // Twilio signs the URL it called: the public one when a proxy stands
      // in front (http.public_url), else what the request says of itself.
      std::string base = o_.config->http.public_url;
      if (base.empty()) base = "http://" + std::string(Header(r, "host"));
      const std::string target = r.query.empty() ? r.target : r.target + "?" + r.query;
      return providers::ParseTwilioStatusCallback(
          r.body, Header(r, providers::kTwilioSignatureHeader),
          Header(r, providers::kTwilioIdempotencyHeader), providers::TwilioSignedUrl(base, target),
          t->auth_token);
    }
    if (std::holds_alternative<SendGridConfig>(pc.settings)) {
      const auto it = sendgrid_.find(pc.name);
      if (it == sendgrid_.end()) {
        return MakeUnexpected(providers::ReceiptError{
            401, "providers[" + pc.name +
                     "].webhook_public_key is not set: unsigned event webhooks are refused"});
      }
      return providers::ParseSendGridEventWebhook(
          it->second, r.body, Header(r, providers::kSendGridSignatureHeader),
          Header(r, providers::kSendGridTimestampHeader), o_.clock->Now());
    }
    if (const auto* v = std::get_if<ViberConfig>(&pc.settings)) {
      return providers::ParseViberCallback(r.body, Header(r, providers::kViberSignatureHeader),
                                           v->auth_token);
    }
    if (const auto* g = std::get_if<GenericHttpConfig>(&pc.settings); g && g->receipts) {
      const auto& mapping = *g->receipts;
      return providers::ParseGenericReceipt(mapping, r.body,
                                            mapping.signature_header.empty()
                                                ? std::string_view()
                                                : Header(r, mapping.signature_header));
    }
    return MakeUnexpected(providers::ReceiptError{
        404, "provider '" + pc.name +
                 "' takes no receipts here (twilio, sendgrid, viber, and http providers with "
                 "a receipts mapping in their config do)"});
  }

  // nullopt: the store did not answer (the provider sends it again).
  std::optional<ReceiptOutcome> Apply(const ProviderConfig& pc, const Receipt& receipt) {
    if (receipt.status == ReceiptStatus::sent) return ReceiptOutcome::ignored;  // progress
    if (receipt.provider_message_id.empty()) return ReceiptOutcome::unknown;
    const auto retention = o_.config->state.status_retention;
    // A webhook delivered twice (the provider's retry, its event id) or the
    // same status of the same message again (Viber has no event id).
    const std::string dedup =
        "d|" + pc.name + "|" +
        (receipt.dedup_key.empty() ? receipt.provider_message_id + "|" + receipt.raw_status
                                   : receipt.dedup_key);
    std::vector<state::Op> ops;
    ops.push_back({.type = state::Op::Type::get,
                   .family = state::Family::status,
                   .key = ProviderIdKey(receipt.provider_message_id)});
    ops.push_back({.type = state::Op::Type::put_if_absent,
                   .family = state::Family::status,
                   .key = dedup,
                   .value = "1",
                   .ttl = retention});
    if (o_.store->Run(ops) != state::StoreStatus::ok) return std::nullopt;
    if (ops[1].found) return ReceiptOutcome::duplicate;
    const auto ref = ops[0].found ? DecodeSentRef(ops[0].result) : std::nullopt;
    if (!ref) return ReceiptOutcome::unknown;

    const bool final = ref->waits && DecideCascade(*ref, receipt);
    if (final) {
      (receipt.status == ReceiptStatus::read ? o_.metrics->final_read
                                             : o_.metrics->final_delivered)
          .Inc();
    }

    Event e;
    e.id = ref->id;
    e.tenant = ref->tenant;
    e.status = ToEventStatus(receipt.status);
    e.final = final;
    e.channel = ToString(ref->channel);
    e.provider = ref->provider;
    e.provider_message_id = receipt.provider_message_id;
    e.raw_status = receipt.raw_status;
    e.error_code = receipt.error_code;
    e.ts = o_.clock->Now();
    std::string item;
    AppendHistoryEvent(e, item);  // seq 0: its place in the history numbers it
    ops.clear();
    ops.push_back({.type = state::Op::Type::append,
                   .family = state::Family::status,
                   .key = HistoryKey(ref->tenant, ref->id),
                   .value = std::move(item),
                   .ttl = retention,
                   .keep = kHistoryItems,
                   .want_result = false});
    if (!receipt.suppress_reason.empty() && !ref->address.empty()) {
      policy::AddressRecord record;
      record.reason = receipt.suppress_reason;
      record.source = "receipt:" + pc.name;
      record.created_ms = std::chrono::duration_cast<milliseconds>(
                              o_.clock->Now().time_since_epoch())
                              .count();
      ops.push_back({.type = state::Op::Type::put,
                     .family = state::Family::suppression,
                     .key = policy::AddressKey(ref->tenant, ref->address, ref->channel),
                     .value = policy::EncodeAddressRecord(record)});
    }
    if (o_.store->Run(ops) != state::StoreStatus::ok) return std::nullopt;
    // Its seq: the events the history holds up to and including it.
    std::uint32_t seq = 0;
    std::string_view list = ops[0].result;
    for (std::size_t pos = 0; pos < list.size();) {
      if (list.compare(pos, 2, "e|") == 0) ++seq;
      const auto comma = list.find(',', pos);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    e.seq = seq;
    // The request's other events carry its campaign; the sent record does
    // not keep it, so a receipt's event has none.
    std::string json;
    AppendEventJson(e, json);
    std::string error;
    if (!o_.producer->Produce(o_.config->kafka.topics.events, ref->id, json, {}, &delivery_,
                              &error)) {
      o_.metrics->event_delivery_failures.Inc();
      if (providers::ShouldLog("receipt-event", "", std::chrono::seconds(10))) {
        spdlog::warn("receipts: kafka refused a receipt's event ({}); it is in the status store",
                     error);
      }
    }
    if (!receipt.suppress_reason.empty() && !ref->address.empty()) {
      o_.metrics->receipt_suppressions.Inc();
    }
    return ReceiptOutcome::applied;
  }

  // A receipt for the step a receipt-timed cascade waits on decides it:
  // the wanted status ends the request (true: this receipt's event is its
  // final one) and cancels the timeout; a failure makes the timer due now,
  // and the worker that fires it moves to the next channel. Whoever moves
  // the cascade record first (this receipt, another instance's, the
  // timeout) decides; a receipt after that is only recorded.
  bool DecideCascade(const SentRef& ref, const Receipt& receipt) {
    std::vector<state::Op> ops(1, state::Op{.type = state::Op::Type::get,
                                            .family = state::Family::status,
                                            .key = CascadeKey(ref.tenant, ref.id)});
    if (o_.store->Run(ops) != state::StoreStatus::ok || !ops[0].found) return false;
    const auto state = DecodeCascadeState(ops[0].result);
    if (!state || state->state != 'w' || state->channel != ref.channel) return false;
    const bool reached =
        receipt.status == ReceiptStatus::read ||
        (receipt.status == ReceiptStatus::delivered && state->wait_for == WaitFor::delivered);
    const bool failed =
        receipt.status == ReceiptStatus::failed || receipt.status == ReceiptStatus::undelivered;
    if (!reached && !failed) return false;
    CascadeState next = *state;
    next.state = reached ? 'd' : 'f';
    if (failed) {
      next.detail = receipt.raw_status;
      if (!receipt.error_code.empty()) next.detail += " " + receipt.error_code;
    }
    const std::string timer = TimerKey(ref.tenant, ref.id);
    std::vector<state::Op> move;
    move.push_back({.type = state::Op::Type::compare_and_set,
                    .family = state::Family::status,
                    .key = ops[0].key,
                    .value = EncodeCascadeState(next),
                    .ttl = std::max(o_.config->state.status_retention, milliseconds(86'400'000)),
                    .expected = ops[0].result});
    if (o_.store->Run(move) != state::StoreStatus::ok || !move[0].found) return false;
    std::vector<state::Op> timer_ops(1, state::Op{.type = reached ? state::Op::Type::erase
                                                                  : state::Op::Type::get,
                                                  .family = state::Family::timer,
                                                  .key = timer});
    if (o_.store->Run(timer_ops) == state::StoreStatus::ok && failed && timer_ops[0].found) {
      std::vector<state::Op> due(
          1, state::Op{.type = state::Op::Type::timer_set,
                       .family = state::Family::timer,
                       .key = timer,
                       .value = timer_ops[0].result,
                       .due_ms = std::chrono::duration_cast<milliseconds>(
                                     o_.clock->Now().time_since_epoch())
                                     .count()});
      // Not made due (store trouble): the step's timeout still moves it on.
      o_.store->Run(due);
    }
    (reached ? o_.metrics->cascade_delivered : o_.metrics->cascade_receipt_failures).Inc();
    return reached;
  }

  ReceiptApiOptions o_;
  EventDelivery delivery_;
  std::map<std::string, providers::SendGridWebhookVerifier, std::less<>> sendgrid_;
};

}  // namespace

Result<Ok, std::string> RegisterReceiptRoutes(HttpServer& http, ReceiptApiOptions options) {
  auto api = std::make_shared<ReceiptApi>(std::move(options));
  if (auto ok = api->Init(); !ok) return ok;
  http.Route(
      "POST", "/v1/receipts/*", [api](const HttpRequest& r) { return api->Post(r); },
      Access::open, kReceiptMaxBodyBytes);
  return Ok{};
}

}  // namespace omnigate::gateway
