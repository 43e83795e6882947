// omnigate-micro-bench: Google Benchmark micro-benchmarks of the per-send
// pieces that are pure CPU (no I/O): web push encryption (RFC 8291), request
// decoding and validation, SMS segment counting, and the embedded state
// store's share of a send. Run by `make bench` into
// bench/results/micro.json; before/after figures for changes to these pieces
// come from here.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/message_status.h"
#include "gateway/policy/policy.h"
#include "gateway/request.h"
#include "gateway/state/embedded_store.h"
#include "providers/twilio/sms_segments.h"
#include "providers/webpush/webpush_crypto.h"

namespace {

using omnigate::providers::webpush::Base64UrlDecode;

void BM_WebPushEncrypt(benchmark::State& state) {
  // A subscription's p256dh key is a P-256 public point; a VAPID key pair
  // stands in for the browser's.
  const auto subscriber = omnigate::providers::webpush::VapidKey::Generate();
  const std::string p256dh = *Base64UrlDecode(subscriber.PublicKeyBase64Url());
  const std::string auth(16, '\x5a');
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    auto body = omnigate::providers::webpush::Encrypt(payload, p256dh, auth);
    if (!body) state.SkipWithError(body.error().c_str());
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_WebPushEncrypt)->Arg(100)->Arg(3993);

void BM_VapidSignJwt(benchmark::State& state) {
  const auto key = omnigate::providers::webpush::VapidKey::Generate();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        key.SignJwt("https://push.example.net", "mailto:ops@example.com", 1'900'000'000));
  }
}
BENCHMARK(BM_VapidSignJwt);

void BM_DecodeSmsRequest(benchmark::State& state) {
  omnigate::gateway::RequestDecoder decoder;
  const std::string bytes =
      R"({"id":"order-7781-shipped","tenant":"shop-ro","channels":["sms"],)"
      R"("to":{"phone":"+40712345678"},"content":{"sms":{"text":"Your order 7781 has )"
      R"(shipped and will arrive tomorrow between 10:00 and 14:00."}},"campaign":"autumn-sale"})";
  for (auto _ : state) {
    auto r = decoder.Decode(bytes, omnigate::gateway::Lane::transactional);
    if (!r) state.SkipWithError(r.error().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_DecodeSmsRequest);

void BM_SmsSegments(benchmark::State& state) {
  const std::string gsm =
      "Your order 7781 has shipped and will arrive tomorrow between 10:00 and 14:00.";
  const std::string ucs2 = "Comanda 7781 a fost expediată și ajunge mâine între 10:00 și 14:00.";
  const std::string& text = state.range(0) == 0 ? gsm : ucs2;
  for (auto _ : state) {
    benchmark::DoNotOptimize(omnigate::providers::CountSmsSegments(text));
  }
}
BENCHMARK(BM_SmsSegments)->Arg(0)->Arg(1);

// The embedded store's work for sends, as the policy stage hands it over: a
// loop turn's requests in one call for their checks (claim the id, read the
// channel's and the all-channels opt-out, read the frequency-cap list) and
// one for their records once sent (the send record, the cap list appended).
// With range(0) = 1 the status store's two writes too (the history appended,
// the provider id's record). Process CPU, so RocksDB's flushes and
// compactions count; one iteration is a turn of 64 sends. The state grows
// over the run as it does in a gateway: a long --benchmark_min_time gives the
// steady state.
void BM_EmbeddedStorePerTurn(benchmark::State& state) {
  namespace st = omnigate::state;
  using namespace std::chrono_literals;
  constexpr int kTurn = 64;
  const bool status = state.range(0) == 1;
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("omnigate-micro-store-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  auto opened = st::EmbeddedStore::Open({.path = dir}, omnigate::SystemClock::Instance());
  if (!opened) {
    state.SkipWithError(opened.error().c_str());
    return;
  }
  std::unique_ptr<st::EmbeddedStore> store = std::move(opened).value();
  std::mt19937_64 rng(7);
  std::uint64_t seq = 0;
  const std::string history(280, 'h');
  std::vector<st::Op> checks, records;
  for (auto _ : state) {
    checks.clear();
    records.clear();
    for (int i = 0; i < kTurn; ++i) {
      const std::string id = "lg-" + std::to_string(++seq) + "-" + std::to_string(rng() % 1000000);
      const std::string phone = "+1555" + std::to_string(1000000 + rng() % 9000000);
      const std::string cap = "bench|" + phone + "|all|5/1h,20/24h";
      checks.push_back({.type = st::Op::Type::put_if_absent, .family = st::Family::dedup,
                        .key = omnigate::policy::DedupKey("bench", id),
                        .value = "c|p3@1234567", .ttl = 24h, .may_lose_on_crash = true});
      checks.push_back({.type = st::Op::Type::get, .family = st::Family::suppression,
                        .key = omnigate::policy::AddressKey("bench", phone,
                                                            omnigate::Channel::sms)});
      checks.push_back({.type = st::Op::Type::get, .family = st::Family::suppression,
                        .key = omnigate::policy::AddressKey("bench", phone, std::nullopt)});
      checks.push_back({.type = st::Op::Type::get, .family = st::Family::counter, .key = cap});
      const std::string sid = "SM" + std::to_string(rng()) + std::to_string(seq);
      records.push_back({.type = st::Op::Type::put, .family = st::Family::dedup,
                         .key = omnigate::policy::DedupKey("bench", id),
                         .value = "s|p3@1234567|sms|sms-bench|" + sid, .ttl = 24h});
      records.push_back({.type = st::Op::Type::append, .family = st::Family::counter,
                         .key = cap, .value = "1764745200123", .ttl = 24h, .keep = 20,
                         .want_result = false});
      if (status) {
        records.push_back({.type = st::Op::Type::append, .family = st::Family::status,
                           .key = omnigate::gateway::HistoryKey("bench", id), .value = history,
                           .ttl = 7 * 24h, .keep = 64, .want_result = false});
        records.push_back({.type = st::Op::Type::put, .family = st::Family::status,
                           .key = omnigate::gateway::ProviderIdKey(sid),
                           .value = omnigate::gateway::EncodeSentRef(
                               {.provider = "sms-bench", .tenant = "bench", .id = id,
                                .channel = omnigate::Channel::sms, .address = phone}),
                           .ttl = 7 * 24h});
      }
    }
    store->Execute(checks, [&](st::StoreStatus s) {
      if (s != st::StoreStatus::ok) state.SkipWithError("checks failed");
    });
    store->Execute(records, [&](st::StoreStatus s) {
      if (s != st::StoreStatus::ok) state.SkipWithError("records failed");
    });
  }
  state.SetItemsProcessed(state.iterations() * kTurn);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EmbeddedStorePerTurn)->Arg(0)->Arg(1)->MeasureProcessCPUTime()->Unit(
    benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
