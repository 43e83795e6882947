#include "gateway/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "common/json.h"
#include "gateway/policy/policy.h"

namespace omnigate::gateway {

void LatencyHistogram::Observe(std::chrono::microseconds d) {
  const double s = static_cast<double>(d.count()) / 1e6;
  std::size_t i = 0;
  while (i < kBoundsSeconds.size() && s > kBoundsSeconds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
}

void LatencyHistogram::AppendPrometheus(std::string& out, const std::string& name,
                                        const std::string& labels) const {
  std::uint64_t cumulative = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                   kBoundsSeconds[i], cumulative);
  }
  cumulative += buckets_.back().load(std::memory_order_relaxed);
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                 cumulative);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels,
                 static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
}

std::string_view ReceiptOutcomeLabel(ReceiptOutcome o) {
  switch (o) {
    case ReceiptOutcome::applied: return "applied";
    case ReceiptOutcome::duplicate: return "duplicate";
    case ReceiptOutcome::unknown: return "unknown";
    case ReceiptOutcome::ignored: return "ignored";
    case ReceiptOutcome::bad_signature: return "bad_signature";
    case ReceiptOutcome::malformed: return "malformed";
    case ReceiptOutcome::unavailable: return "unavailable";
  }
  return "unknown";
}

ProviderMetrics* GatewayMetrics::FindProvider(std::string_view name) const {
  for (const auto& p : providers) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

std::string GatewayMetrics::RenderPrometheus() const {
  std::string out;
  out.reserve(8192);
  auto counter = [&](const char* name, const char* help, const std::string& labels,
                     std::uint64_t v, bool header = true) {
    if (header) {
      fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} counter\n", name, help,
                     name);
    }
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out), "{} {}\n", name, v);
    } else {
      fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, v);
    }
  };
  auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help,
                   name, name, v);
  };
  counter("omnigate_requests_consumed_total", "Send requests read from Kafka.",
          "lane=\"transactional\"", consumed_transactional.Get());
  counter("omnigate_requests_consumed_total", "", "lane=\"bulk\"", consumed_bulk.Get(), false);
  counter("omnigate_requests_final_total", "Requests that reached a final status.",
          "status=\"sent\"", sent.Get());
  counter("omnigate_requests_final_total", "", "status=\"failed\"", failed.Get(), false);
  counter("omnigate_requests_final_total", "", "status=\"rejected\"", rejected.Get(), false);
  counter("omnigate_requests_final_total", "", "status=\"expired\"", expired.Get(), false);
  counter("omnigate_requests_final_total", "", "status=\"duplicate\"", duplicates.Get(), false);
  counter("omnigate_requests_final_total", "", "status=\"suppressed\"", suppressed.Get(), false);
  counter("omnigate_requests_final_total", "", "status=\"delivered\"", final_delivered.Get(),
          false);
  counter("omnigate_requests_final_total", "", "status=\"read\"", final_read.Get(), false);
  for (Channel c : kAllChannels) {
    counter("omnigate_sent_total", "Requests sent, by channel.",
            fmt::format("channel=\"{}\"", ToString(c)),
            sent_by_channel[static_cast<std::size_t>(c)].Get(), c == Channel::email);
  }
  counter("omnigate_retries_total", "Retry events emitted.", "", retries.Get());
  counter("omnigate_fallbacks_total", "Moves to the next channel of a cascade.", "",
          fallbacks.Get());
  counter("omnigate_events_produced_total", "Events acknowledged by Kafka.", "",
          events_produced.Get());
  counter("omnigate_event_delivery_failures_total",
          "Event or DLQ records Kafka did not acknowledge (re-produced).", "",
          event_delivery_failures.Get());
  counter("omnigate_dlq_records_total", "Requests written to the dead-letter topic.", "",
          dlq_records.Get());
  counter("omnigate_offset_commits_total", "Offset commits acknowledged.", "", commits.Get());
  counter("omnigate_offset_commit_failures_total", "Offset commits that failed.", "",
          commit_failures.Get());
  counter("omnigate_abandoned_total",
          "Requests given up because their partition was revoked (redelivered elsewhere).", "",
          abandoned.Get());
  counter("omnigate_dlq_truncated_total",
          "DLQ copies cut to fit kafka message.max.bytes (original size and SHA-256 in headers).",
          "", dlq_truncated.Get());
  counter("omnigate_kafka_records_dropped_total",
          "Records Kafka refuses for good (too large even when cut); logged at error.", "",
          records_dropped.Get());
  counter("omnigate_redelivered_done_total",
          "Redelivered requests skipped because their handling ended before a restart or "
          "rebalance (offset commit metadata).",
          "", redelivered_done.Get());
  counter("omnigate_schedule_rejected_total",
          "Requests rejected because send_at is beyond pipeline.max_schedule_ahead.", "",
          schedule_too_far.Get());
  counter("omnigate_deferred_total",
          "Requests handed to a durable timer (send_at ahead, quiet hours, a cap with over_cap: "
          "defer); their offsets are committed.",
          "", deferred.Get());
  counter("omnigate_timers_fired_total", "Durable timers claimed and fired.", "",
          timers_fired.Get());
  counter("omnigate_state_unavailable_total",
          "Policy checks the state store could not answer; the request waits and is checked "
          "again (never sent unchecked).",
          "", state_unavailable.Get());
  counter("omnigate_state_record_failures_total",
          "Sends a provider accepted whose record the state store did not take (a redelivery "
          "of such a request could be sent again).",
          "", state_record_failures.Get());
  counter("omnigate_receipt_suppressions_total",
          "Suppressions added by receipts (unsubscribe, spam report, hard bounce, SMS STOP).", "",
          receipt_suppressions.Get());
  counter("omnigate_cascade_steps_total",
          "Receipt-timed cascade steps by how they ended: delivered (the wanted receipt in time), "
          "receipt_failure and timeout (the next channel was tried).",
          "outcome=\"delivered\"", cascade_delivered.Get());
  counter("omnigate_cascade_steps_total", "", "outcome=\"receipt_failure\"",
          cascade_receipt_failures.Get(), false);
  counter("omnigate_cascade_steps_total", "", "outcome=\"timeout\"", cascade_timeouts.Get(),
          false);
  counter("omnigate_status_write_failures_total",
          "Request history writes the status store did not take (GET /v1/messages misses those "
          "events; the events topic has them).",
          "", status_write_failures.Get());
  gauge("omnigate_state_up", "1 while the state store answers (or policy is off), else 0.",
        state_up.Get());
  policy.AppendPrometheus(out);
  kafka.AppendPrometheus(out);
  gauge("omnigate_parked",
        "Requests waiting in memory on a timer (retry back-off, a state store retry; send_at "
        "only with policy off).",
        parked.Get());
  gauge("omnigate_oldest_parked_seconds",
        "How long the longest-waiting parked request has waited; it holds its partition's "
        "committed offset.",
        oldest_parked_seconds.Get());
  gauge("omnigate_in_flight", "Requests consumed and not yet committed.", in_flight.Get());
  gauge("omnigate_partitions_assigned", "Request partitions owned by this instance.",
        partitions_assigned.Get());
  gauge("omnigate_partitions_paused", "Partitions paused for backpressure.",
        partitions_paused.Get());
  gauge("omnigate_held_back", "Records fetched and held while over the in-flight limits.",
        held_back.Get());
  bool first = true;
  for (const auto& p : providers) {
    const std::string base = fmt::format("provider=\"{}\",channel=\"{}\"", p->name,
                                         ToString(p->channel));
    const std::pair<const char*, const Counter*> outcomes[] = {
        {"accepted", &p->accepted},   {"retry", &p->retry},
        {"throttled", &p->throttled}, {"permanent", &p->permanent},
        {"invalid_address", &p->invalid_address}};
    for (const auto& [outcome, c] : outcomes) {
      counter("omnigate_provider_responses_total", "Provider answers by outcome.",
              base + fmt::format(",outcome=\"{}\"", outcome), c->Get(), first);
      first = false;
    }
  }
  first = true;
  for (const auto& p : providers) {
    for (std::size_t i = 0; i < kReceiptOutcomeCount; ++i) {
      if (first) {
        out += "# HELP omnigate_receipts_total Delivery receipts by provider and what became of "
               "them.\n# TYPE omnigate_receipts_total counter\n";
        first = false;
      }
      // The label with a fixed set of values first: tests/deploy pairs
      // "{}" labels with *Label() calls in order.
      fmt::format_to(std::back_inserter(out),
                     "omnigate_receipts_total{{result=\"{}\",provider=\"{}\"}} {}\n",
                     ReceiptOutcomeLabel(static_cast<ReceiptOutcome>(i)), p->name,
                     p->receipts[i].Get());
    }
  }
  // The circuit breakers: one line per state, 1 for the current one (the
  // enum-as-labels convention: PromQL selects by state without a legend).
  first = true;
  for (const auto& p : providers) {
    if (!p->breaker) continue;
    if (first) {
      out +=
          "# HELP omnigate_provider_circuit_state The provider's circuit breaker: 1 for its "
          "current state (closed: sends go; open: skipped after failures in a row; half_open: "
          "one probe send).\n# TYPE omnigate_provider_circuit_state gauge\n";
    }
    first = false;
    const auto now = p->breaker->state();
    for (auto s : {providers::CircuitBreaker::State::closed, providers::CircuitBreaker::State::open,
                   providers::CircuitBreaker::State::half_open}) {
      fmt::format_to(std::back_inserter(out),
                     "omnigate_provider_circuit_state{{provider=\"{}\",state=\"{}\"}} {}\n",
                     p->name, providers::ToString(s), s == now ? 1 : 0);
    }
  }
  first = true;
  for (const auto& p : providers) {
    if (!p->breaker) continue;
    counter("omnigate_provider_circuit_opened_total",
            "Times the provider's circuit breaker opened.",
            fmt::format("provider=\"{}\"", p->name), p->breaker->opened_total(), first);
    first = false;
  }
  first = true;
  for (const auto& p : providers) {
    if (!p->breaker) continue;
    counter("omnigate_provider_circuit_rejected_total",
            "Sends that skipped the provider because its circuit breaker was open.",
            fmt::format("provider=\"{}\"", p->name), p->breaker->rejected_total(), first);
    first = false;
  }
  if (!providers.empty()) {
    out += "# HELP omnigate_provider_latency_seconds Provider round-trip time.\n";
    out += "# TYPE omnigate_provider_latency_seconds histogram\n";
  }
  for (const auto& p : providers) {
    p->latency.AppendPrometheus(out, "omnigate_provider_latency_seconds",
                                fmt::format("provider=\"{}\"", p->name));
  }
  return out;
}

static_assert(PolicyMetrics::kOutcomes == policy::kOutcomeCount);

void PolicyMetrics::Init(const std::vector<std::string>& configured_tenants) {
  names_ = configured_tenants;
  std::sort(names_.begin(), names_.end());
  names_.push_back("_other");
  rows_ = std::make_unique<Row[]>(names_.size());
}

PolicyMetrics::Row& PolicyMetrics::For(std::string_view tenant) {
  const auto end = names_.end() - 1;
  const auto it = std::lower_bound(names_.begin(), end, tenant);
  const auto index = it != end && *it == tenant ? it - names_.begin() : end - names_.begin();
  return rows_[static_cast<std::size_t>(index)];
}

void PolicyMetrics::AppendPrometheus(std::string& out) const {
  if (names_.empty()) return;
  out += "# HELP omnigate_policy_decisions_total Delivery-policy decisions: duplicates, "
         "suppressions, skipped channels, allowed sends.\n";
  out += "# TYPE omnigate_policy_decisions_total counter\n";
  for (std::size_t t = 0; t < names_.size(); ++t) {
    for (std::size_t o = 0; o < kOutcomes; ++o) {
      const auto outcome = static_cast<policy::Outcome>(o);
      fmt::format_to(std::back_inserter(out),
                     "omnigate_policy_decisions_total{{decision=\"{}\",reason=\"{}\",tenant=\"{}\"}} {}\n",
                     policy::DecisionLabel(outcome), policy::ReasonLabel(outcome), names_[t],
                     rows_[t][o].Get());
    }
  }
}

void KafkaHealth::Update(const queue::KafkaStats& stats) {
  const std::lock_guard<std::mutex> lock(mu_);
  (stats.type == "consumer" ? consumer_ : producer_) = stats;
}

queue::KafkaStats KafkaHealth::consumer() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return consumer_;
}

queue::KafkaStats KafkaHealth::producer() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return producer_;
}

void KafkaHealth::AppendPrometheus(std::string& out) const {
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "# HELP omnigate_kafka_consumer_lag_messages Records not yet finished by this "
                 "instance (log end minus committed offset), per assigned partition\n"
                 "# TYPE omnigate_kafka_consumer_lag_messages gauge\n");
  for (const auto& p : consumer_.partitions) {
    fmt::format_to(it, "omnigate_kafka_consumer_lag_messages{{topic=\"{}\",partition=\"{}\"}} {}\n",
                   p.topic, p.partition, p.lag);
  }
  fmt::format_to(it,
                 "# HELP omnigate_kafka_broker_up 1 while the client's connection to the broker "
                 "is up\n# TYPE omnigate_kafka_broker_up gauge\n");
  for (const auto* s : {&consumer_, &producer_}) {
    for (const auto& b : s->brokers) {
      fmt::format_to(it, "omnigate_kafka_broker_up{{client=\"{}\",broker=\"{}\"}} {}\n", s->type,
                     b.name, b.up ? 1 : 0);
    }
  }
  fmt::format_to(it,
                 "# HELP omnigate_kafka_broker_rtt_seconds Request round trip to the broker over "
                 "the last statistics interval\n# TYPE omnigate_kafka_broker_rtt_seconds gauge\n");
  for (const auto* s : {&consumer_, &producer_}) {
    for (const auto& b : s->brokers) {
      const std::pair<const char*, double> quantiles[] = {{"0.5", b.rtt_p50_seconds},
                                                          {"0.99", b.rtt_p99_seconds}};
      for (const auto& [q, v] : quantiles) {
        fmt::format_to(it,
                       "omnigate_kafka_broker_rtt_seconds{{client=\"{}\",broker=\"{}\","
                       "quantile=\"{}\"}} {}\n",
                       s->type, b.name, q, v);
      }
    }
  }
  struct QueueGauge {
    const char* name;
    const char* unit;
    std::int64_t value;
  };
  const QueueGauge queue[] = {
      {"omnigate_kafka_producer_queue_messages", "records", producer_.queued_messages},
      {"omnigate_kafka_producer_queue_bytes", "bytes", producer_.queued_bytes}};
  for (const auto& g : queue) {
    fmt::format_to(it, "# HELP {} Events and DLQ records in the producer's local queue, not yet "
                       "acknowledged ({})\n# TYPE {} gauge\n{} {}\n",
                   g.name, g.unit, g.name, g.name, g.value);
  }
}

std::array<std::uint64_t, LatencyHistogram::kBoundsSeconds.size() + 1> LatencyHistogram::Buckets()
    const {
  std::array<std::uint64_t, kBoundsSeconds.size() + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::array<std::uint64_t, PolicyMetrics::kOutcomes> PolicyMetrics::Totals() const {
  std::array<std::uint64_t, kOutcomes> out{};
  for (std::size_t t = 0; t < names_.size(); ++t) {
    for (std::size_t o = 0; o < kOutcomes; ++o) out[o] += rows_[t][o].Get();
  }
  return out;
}

std::string GatewayMetrics::RenderStatsJson(std::int64_t now_ms) const {
  std::string out;
  out.reserve(4096);
  auto it = std::back_inserter(out);
  auto object = [&](const char* name, std::initializer_list<std::pair<const char*, std::int64_t>> f) {
    fmt::format_to(it, "\"{}\":{{", name);
    bool first = true;
    for (const auto& [key, value] : f) {
      fmt::format_to(it, "{}\"{}\":{}", first ? "" : ",", key, value);
      first = false;
    }
    out += "},";
  };
  auto n = [](const Counter& c) { return static_cast<std::int64_t>(c.Get()); };
  fmt::format_to(it, "{{\"time_ms\":{},", now_ms);
  object("consumed", {{"transactional", n(consumed_transactional)}, {"bulk", n(consumed_bulk)}});
  object("final", {{"sent", n(sent)},
                   {"failed", n(failed)},
                   {"rejected", n(rejected)},
                   {"expired", n(expired)},
                   {"duplicate", n(duplicates)},
                   {"suppressed", n(suppressed)}});
  out += "\"sent_by_channel\":{";
  for (Channel c : kAllChannels) {
    fmt::format_to(it, "{}\"{}\":{}", c == kAllChannels[0] ? "" : ",", ToString(c),
                   sent_by_channel[static_cast<std::size_t>(c)].Get());
  }
  out += "},";
  object("counters", {{"retries", n(retries)},
                      {"fallbacks", n(fallbacks)},
                      {"dlq_records", n(dlq_records)},
                      {"deferred", n(deferred)},
                      {"timers_fired", n(timers_fired)},
                      {"abandoned", n(abandoned)},
                      {"event_delivery_failures", n(event_delivery_failures)},
                      {"commit_failures", n(commit_failures)},
                      {"state_unavailable", n(state_unavailable)}});
  object("gauges", {{"in_flight", in_flight.Get()},
                    {"held_back", held_back.Get()},
                    {"parked", parked.Get()},
                    {"oldest_parked_seconds", oldest_parked_seconds.Get()},
                    {"partitions_assigned", partitions_assigned.Get()},
                    {"partitions_paused", partitions_paused.Get()},
                    {"state_up", state_up.Get()}});
  out += "\"latency_bounds_seconds\":[";
  for (std::size_t i = 0; i < LatencyHistogram::kBoundsSeconds.size(); ++i) {
    fmt::format_to(it, "{}{}", i == 0 ? "" : ",", LatencyHistogram::kBoundsSeconds[i]);
  }
  out += "],\"providers\":[";
  for (std::size_t i = 0; i < providers.size(); ++i) {
    const auto& p = *providers[i];
    if (i > 0) out += ',';
    out += "{\"name\":";
    AppendJsonString(p.name, out);
    fmt::format_to(it,
                   ",\"channel\":\"{}\",\"accepted\":{},\"retry\":{},\"throttled\":{},"
                   "\"permanent\":{},\"invalid_address\":{},\"circuit\":\"{}\","
                   "\"circuit_opened\":{},\"circuit_rejected\":{},\"latency_buckets\":[",
                   ToString(p.channel), p.accepted.Get(), p.retry.Get(), p.throttled.Get(),
                   p.permanent.Get(), p.invalid_address.Get(),
                   p.breaker ? providers::ToString(p.breaker->state()) : "closed",
                   p.breaker ? p.breaker->opened_total() : 0,
                   p.breaker ? p.breaker->rejected_total() : 0);
    const auto buckets = p.latency.Buckets();
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      fmt::format_to(it, "{}{}", b == 0 ? "" : ",", buckets[b]);
    }
    out += "]}";
  }
  out += "],\"policy\":[";
  const auto totals = policy.Totals();
  for (std::size_t o = 0; o < totals.size(); ++o) {
    const auto outcome = static_cast<policy::Outcome>(o);
    fmt::format_to(it, "{}{{\"decision\":\"{}\",\"reason\":\"{}\",\"count\":{}}}",
                   o == 0 ? "" : ",", policy::DecisionLabel(outcome), policy::ReasonLabel(outcome),
                   totals[o]);
  }
  const auto consumer = kafka.consumer();
  const auto producer = kafka.producer();
  out += "],\"kafka\":{\"lag\":[";
  for (std::size_t i = 0; i < consumer.partitions.size(); ++i) {
    const auto& part = consumer.partitions[i];
    out += i == 0 ? "{\"topic\":" : ",{\"topic\":";
    AppendJsonString(part.topic, out);
    fmt::format_to(it, ",\"partition\":{},\"lag\":{}}}", part.partition, part.lag);
  }
  out += "],\"brokers\":[";
  bool first = true;
  for (const auto* s : {&consumer, &producer}) {
    for (const auto& b : s->brokers) {
      out += first ? "{\"client\":" : ",{\"client\":";
      first = false;
      AppendJsonString(s->type, out);
      out += ",\"name\":";
      AppendJsonString(b.name, out);
      fmt::format_to(it, ",\"up\":{},\"rtt_p99_seconds\":{}}}", b.up, b.rtt_p99_seconds);
    }
  }
  fmt::format_to(it, "],\"producer_queue_messages\":{}}}}}", producer.queued_messages);
  return out;
}

}  // namespace omnigate::gateway
