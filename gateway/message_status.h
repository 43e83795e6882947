#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/event.h"
#include "gateway/http_server.h"
#include "gateway/request.h"
#include "gateway/state/blocking_store.h"
#include "gateway/state/state_store.h"

namespace omnigate::gateway {

// The status store (DESIGN.md §9, Family::status): each request's history,
// and the provider's message id back to the request, for receipts and
// GET /v1/messages. Kafka's events topic stays the record of truth; the
// status store is what an operator or a support tool asks about one message.
//
//   h|<tenant>|<id>   the history: a comma-separated list of items, kept
//                     `retention` after the last write, at most
//                     kHistoryItems items. An item is "r|" and the request's
//                     summary ({"request":{…}}, JSON), or "e|" and an
//                     event's fields separated by '|' (compact: a send's
//                     history is about 200 bytes, where its events' JSON
//                     would be 700); ',', '|' and '%' in a field are
//                     percent-escaped.
//   p|<provider message id>   the send it came from (SentRef).

inline constexpr std::uint32_t kHistoryItems = 256;

std::string HistoryKey(std::string_view tenant, std::string_view id);
std::string ProviderIdKey(std::string_view provider_message_id);

// Append an item to a history list (a comma first when `list` is not empty).
// The summary says what was asked (lane, channels, campaign, tags,
// send_at/expires_at) with every address masked; the event is stored
// without its id, tenant and campaign, which the summary and the key hold.
void AppendHistorySummary(const SendRequest& req, std::string& list);
void AppendHistoryEvent(const Event& event, std::string& list);

// {"request":{…}}: the summary as JSON.
void AppendRequestSummary(const SendRequest& req, std::string& out);

// What a provider message id leads to.
struct SentRef {
  std::string provider;
  std::string tenant;
  std::string id;
  Channel channel = Channel::sms;
  std::string address;  // normalised (policy::AddressOf): suppressions from receipts
  // A cascade step waiting for its receipt: only then is there a cascade
  // record for a receipt to move (the others need not be looked up).
  bool waits = false;
};
std::string EncodeSentRef(const SentRef& ref);
std::optional<SentRef> DecodeSentRef(std::string_view value);

// Receipt-timed cascades. While a request waits for a receipt on step
// `pos` (its channels[pos]), its cascade record says so, and its durable
// timer (TimerKey) holds the request until the step's timeout. Whoever
// moves the record off `waiting` first, with compare_and_set, decides the
// step: a receipt that reaches wait_for (`done`), a failure receipt
// (`failed`: the timer is made due at once), or the timer (the timeout).
//   c|<tenant>|<id>   "<state>|<pos>|<channel>|<wait_for>[|<raw status>]"
std::string CascadeKey(std::string_view tenant, std::string_view id);
std::string TimerKey(std::string_view tenant, std::string_view id);
struct CascadeState {
  // 'w' waiting, 'd' done (wait_for reached), 'f' failed by a receipt, 'x' moved
  // on, 'q' moved on but the next channel's quiet hours hold it (its timer
  // brings it back here)
  char state = 'w';
  std::size_t pos = 0;
  Channel channel = Channel::sms;
  WaitFor wait_for = WaitFor::delivered;
  std::string detail;  // 'f': the receipt's raw status
};
std::string EncodeCascadeState(const CascadeState& c);
std::optional<CascadeState> DecodeCascadeState(std::string_view value);
std::string_view ToString(WaitFor w);

// GET /v1/messages/{id}?tenant=… (the request's summary, every event and
// receipt in order, its current status) and GET
// /v1/messages?provider_message_id=… (the same, found by the provider's id).
// Admin routes; they wait for the store on the HTTP thread.
void RegisterMessageRoutes(HttpServer& http, state::BlockingStore& store,
                           std::string default_tenant);

// The body GET /v1/messages/{id} answers for a stored history list.
std::string RenderMessage(std::string_view tenant, std::string_view id, std::string_view list);

}  // namespace omnigate::gateway
