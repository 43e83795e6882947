#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
//   h|<tenant>|<id>   the history: a comma-separated list of items, each the
//                     JSON of one event as written to Kafka (the first item
//                     of a request is its summary, {"request":{…}}), with
//                     ',' and '%' percent-escaped; kept `retention` after
//                     the last write, at most kHistoryItems items.
//   p|<provider message id>   the send it came from (SentRef).

inline constexpr std::uint32_t kHistoryItems = 256;

std::string HistoryKey(std::string_view tenant, std::string_view id);
std::string ProviderIdKey(std::string_view provider_message_id);

// Appends `json` to a history list (a comma first when `list` is not empty).
void AppendHistoryItem(std::string_view json, std::string& list);
// The items of a stored list, unescaped; an item that does not unescape is
// skipped.
std::vector<std::string> SplitHistory(std::string_view list);

// {"request":{…}}: what was asked (lane, channels, campaign, tags, content
// kinds, send_at/expires_at) with every address masked.
void AppendRequestSummary(const SendRequest& req, std::string& out);

// What a provider message id leads to.
struct SentRef {
  std::string provider;
  std::string tenant;
  std::string id;
  Channel channel = Channel::sms;
  std::string address;  // normalised (policy::AddressOf): suppressions from receipts
};
std::string EncodeSentRef(const SentRef& ref);
std::optional<SentRef> DecodeSentRef(std::string_view value);

// GET /v1/messages/{id}?tenant=… (the request's summary, every event and
// receipt in order, its current status) and GET
// /v1/messages?provider_message_id=… (the same, found by the provider's id).
// Admin routes; they wait for the store on the HTTP thread.
void RegisterMessageRoutes(HttpServer& http, state::BlockingStore& store,
                           std::string default_tenant);

// The body GET /v1/messages/{id} answers for a stored history list.
std::string RenderMessage(std::string_view tenant, std::string_view id, std::string_view list);

}  // namespace omnigate::gateway
