// omnigate-micro-bench: Google Benchmark micro-benchmarks of the per-send
// pieces that are pure CPU (no I/O): web push encryption (RFC 8291), request
// decoding and validation, SMS segment counting. Run by `make bench` into
// bench/results/micro.json; before/after figures for changes to these pieces
// come from here.
#include <benchmark/benchmark.h>

#include <string>

#include "gateway/request.h"
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

}  // namespace

BENCHMARK_MAIN();
