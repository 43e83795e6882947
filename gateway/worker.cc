#include "gateway/worker.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <mutex>

#include "common/mask.h"
#include "queue/kafka_consumer.h"
#include "queue/kafka_producer.h"

namespace omnigate::gateway {

namespace asio = boost::asio;
using std::chrono::milliseconds;

class Worker::Loop {
 public:
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{asio::make_work_guard(io)};
  asio::steady_timer commit_timer{io};
  // Delivery reports from the producer's thread, drained in one go by the
  // worker: one post (one wake-up) per burst of reports instead of one each.
  std::mutex deliveries_mu;
  std::vector<std::pair<PendingRecord*, bool>> deliveries;  // guarded by deliveries_mu
  std::vector<std::pair<PendingRecord*, bool>> draining;    // worker thread only
};

// A request from the moment it is read until its final event is acknowledged
// (then its offset may be committed) or it is abandoned. Owned by its worker.
struct RequestContext {
  std::shared_ptr<PartitionState> partition;
  std::int64_t offset = -1;
  queue::KafkaMessage message;
  SendRequest request;
  std::string event_id;  // request.id, or a stand-in for undecodable requests
  std::uint32_t seq = 0;
  int outstanding_records = 0;  // produced, not yet acknowledged by Kafka
  bool final_acked = false;
  bool finished = false;    // final event produced
  std::size_t channel_pos = 0;
  std::size_t route_pos = 0;
  int attempt = 0;  // sends on the current channel
  std::optional<asio::steady_timer> timer;
  // The worker's list of live requests (for Stop), intrusive: no allocation
  // or hashing per request.
  RequestContext* live_prev = nullptr;
  RequestContext* live_next = nullptr;
};

// One record for Kafka (an event or a DLQ copy) until it is acknowledged.
// Re-produced with the same bytes when delivery fails, so a failure never
// loses a final event.
struct PendingRecord final : queue::DeliveryListener {
  Worker* worker = nullptr;
  RequestContext* ctx = nullptr;
  const std::string* topic = nullptr;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  bool final = false;
  bool dlq = false;

  void OnDelivery(bool ok, std::string_view error) override {
    if (!ok) spdlog::warn("kafka: record for topic {} not acknowledged: {}", *topic, error);
    worker->QueueDelivery(this, ok);
  }
};

namespace {

// Best effort: the id of a request that failed validation, so its rejected
// event can still be correlated upstream.
std::string ExtractId(std::string_view payload) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view id;
  if (parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS ||
      doc["id"].get(id) != simdjson::SUCCESS || id.empty() || id.size() > 128) {
    return {};
  }
  for (const char c : id) {
    if (c < 0x21 || c > 0x7e) return {};
  }
  return std::string(id);
}

}  // namespace

Worker::Worker(int index, std::shared_ptr<const Config> config, queue::KafkaProducer& producer,
               GatewayMetrics& metrics)
    : index_(index),
      config_(std::move(config)),
      producer_(producer),
      metrics_(metrics),
      loop_(std::make_unique<Loop>()),
      rng_(static_cast<unsigned>(index) * 7919u + 17u) {
  providers_ = MakeWorkerProviders(*config_, loop_->io, config_->pipeline.workers);
  // Routes: the configured failover order per channel.
  for (const auto& [channel, names] : config_->routes) {
    for (const auto& name : names) {
      for (std::size_t i = 0; i < config_->providers.size(); ++i) {
        if (config_->providers[i].name != name) continue;
        routes_[static_cast<std::size_t>(channel)].push_back(
            {providers_.providers[i].get(), metrics_.FindProvider(name)});
      }
    }
  }
}

Worker::~Worker() { Stop(); }

void Worker::Start(queue::KafkaConsumer* consumer) {
  consumer_ = consumer;
  CommitTick();
  thread_ = std::thread([this] { loop_->io.run(); });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  asio::post(loop_->io, [this] {
    loop_->commit_timer.cancel();
    while (live_head_ != nullptr) {
      RequestContext* next = live_head_->live_next;
      delete live_head_;
      live_head_ = next;
    }
    live_size_ = 0;
    for (PendingRecord* rec : produce_backlog_) delete rec;
    produce_backlog_.clear();
    providers_ = {};  // aborts transfers on this thread
    loop_->guard.reset();
    loop_->io.stop();
  });
  thread_.join();
}

void Worker::Submit(std::vector<Incoming> batch) {
  asio::post(loop_->io, [this, batch = std::move(batch)]() mutable {
    for (auto& in : batch) {
      (in.partition->lane == Lane::bulk ? bulk_in_ : transactional_in_).push_back(std::move(in));
    }
    if (!drain_posted_) {
      drain_posted_ = true;
      asio::post(loop_->io, [this] { DrainIncoming(); });
    }
  });
}

// Decoding and starting a request costs tens of microseconds; a batch of
// thousands of bulk records processed in one go would hold a transactional
// record (and provider completions) behind it for a hundred milliseconds.
// So: every transactional record first, then bulk in slices, yielding to the
// io_context in between.
void Worker::DrainIncoming() {
  constexpr std::size_t kBulkSlice = 64;
  drain_posted_ = false;
  while (!transactional_in_.empty()) {
    Incoming in = std::move(transactional_in_.front());
    transactional_in_.pop_front();
    Process(in);
  }
  for (std::size_t i = 0; i < kBulkSlice && !bulk_in_.empty(); ++i) {
    Incoming in = std::move(bulk_in_.front());
    bulk_in_.pop_front();
    Process(in);
  }
  if (!bulk_in_.empty() && !drain_posted_) {
    drain_posted_ = true;
    asio::post(loop_->io, [this] { DrainIncoming(); });
  }
}

void Worker::AddPartition(std::shared_ptr<PartitionState> partition) {
  asio::post(loop_->io, [this, p = std::move(partition)]() mutable {
    partitions_.push_back(std::move(p));
  });
}

void Worker::RevokePartition(std::shared_ptr<PartitionState> partition) {
  asio::post(loop_->io, [this, p = std::move(partition)] {
    // Cancelling wakes each parked request; its handler sees `revoked` and
    // abandons it.
    for (RequestContext* ctx : p->waiting) {
      if (ctx->timer) ctx->timer->cancel();
    }
    partitions_.erase(std::remove(partitions_.begin(), partitions_.end(), p), partitions_.end());
  });
}

void Worker::Process(Incoming& in) {
  auto& part = in.partition;
  // Records of a revoked partition are left for its next owner.
  if (part->revoked.load(std::memory_order_relaxed)) return;
  const std::int64_t offset = in.message.offset();
  if (!part->tracker.Track(offset)) {
    spdlog::warn("{}[{}]: offset {} read twice in one assignment; ignored", part->topic,
                 part->partition, offset);
    return;
  }
  part->busy.fetch_add(1, std::memory_order_relaxed);
  auto* ctx = new RequestContext();
  ctx->partition = part;
  ctx->offset = offset;
  ctx->message = std::move(in.message);
  ctx->live_next = live_head_;
  if (live_head_ != nullptr) live_head_->live_prev = ctx;
  live_head_ = ctx;
  live_count_.store(++live_size_, std::memory_order_relaxed);
  (part->lane == Lane::bulk ? metrics_.consumed_bulk : metrics_.consumed_transactional).Inc();

  auto decoded = decoder_.Decode(ctx->message.payload(), part->lane);
  if (!decoded) {
    Reject(ctx, decoded.error());
    return;
  }
  ctx->request = std::move(decoded).value();
  ctx->event_id = ctx->request.id;
  Emit(ctx, EventStatus::accepted, false);
  Begin(ctx);
}

void Worker::Reject(RequestContext* ctx, const ValidationError& error) {
  ctx->event_id = ExtractId(ctx->message.payload());
  if (ctx->event_id.empty()) {
    // No usable id: name the record by where it was read.
    ctx->event_id = fmt::format("kafka:{}/{}/{}", ctx->partition->topic,
                                ctx->partition->partition, ctx->offset);
  }
  const std::string reason = error.ToString();
  auto* rec = new PendingRecord();
  rec->worker = this;
  rec->ctx = ctx;
  rec->topic = &config_->kafka.topics.dlq;
  rec->key = std::string(ctx->message.key());
  rec->value = std::string(ctx->message.payload());
  rec->dlq = true;
  rec->headers = {
      {"omnigate.reason", reason},
      {"omnigate.rule", error.rule},
      {"omnigate.field", error.field},
      {"omnigate.topic", ctx->partition->topic},
      {"omnigate.partition", std::to_string(ctx->partition->partition)},
      {"omnigate.offset", std::to_string(ctx->offset)},
  };
  std::string ts;
  AppendTimestamp(std::chrono::system_clock::now(), ts);
  rec->headers.emplace_back("omnigate.ts", std::move(ts));
  ++ctx->outstanding_records;
  ProduceRecord(rec);
  metrics_.rejected.Inc();
  Finish(ctx, EventStatus::rejected, {}, {}, reason, 0);
}

void Worker::Begin(RequestContext* ctx) {
  const auto now = std::chrono::system_clock::now();
  const auto& req = ctx->request;
  if (req.send_at && *req.send_at > now) {
    // Held here until due; the offset stays uncommitted meanwhile, so a
    // restart redelivers it (bounded by pipeline.max_in_flight).
    Emit(ctx, EventStatus::scheduled, false);
    Park(ctx, std::chrono::duration_cast<milliseconds>(*req.send_at - now));
    return;
  }
  TrySend(ctx);
}

void Worker::TrySend(RequestContext* ctx) {
  const auto& req = ctx->request;
  if (req.expires_at && *req.expires_at <= std::chrono::system_clock::now()) {
    metrics_.expired.Inc();
    Finish(ctx, EventStatus::expired, {}, {}, "expires_at passed before it could be sent", 0);
    return;
  }
  const Channel channel = req.channels[ctx->channel_pos];
  const auto& route = routes_[static_cast<std::size_t>(channel)];
  if (route.empty()) {
    ChannelFailed(ctx, "no_provider");
    return;
  }
  if (ctx->route_pos >= route.size()) ctx->route_pos = 0;
  const Route r = route[ctx->route_pos];
  providers::OutboundMessage msg;
  msg.request_id = req.id;
  msg.tenant = req.tenant;
  msg.channel = channel;
  msg.attempt = ++ctx->attempt;
  msg.bulk = req.lane == Lane::bulk;
  switch (channel) {
    case Channel::sms:
      msg.sms = {req.to.phone, req.sms->text, req.sms->sender};
      break;
    case Channel::email:
      msg.email = {req.to.email,     req.email->from, req.email->subject,
                   req.email->text,  req.email->html, req.email->unsubscribe_url};
      break;
    case Channel::viber: {
      const auto& v = *req.viber;
      msg.viber = {req.to.viber, v.text, v.image_url, v.button ? v.button->caption : "",
                   v.button ? v.button->url : ""};
      break;
    }
    case Channel::webpush: {
      const auto& sub = *req.to.webpush;
      const auto& w = *req.webpush;
      msg.webpush = {sub.endpoint,
                     sub.p256dh,
                     sub.auth,
                     w.payload,
                     std::chrono::duration_cast<std::chrono::seconds>(w.ttl),
                     w.urgency,
                     w.topic};
      break;
    }
  }
  r.provider->Send(msg, [this, ctx, r](providers::SendResult result) {
    OnSendResult(ctx, r, std::move(result));
  });
}

void Worker::OnSendResult(RequestContext* ctx, const Route& route, providers::SendResult result) {
  using providers::SendStatus;
  if (route.metrics != nullptr) {
    route.metrics->latency.Observe(result.latency);
    switch (result.status) {
      case SendStatus::accepted: route.metrics->accepted.Inc(); break;
      case SendStatus::retry: route.metrics->retry.Inc(); break;
      case SendStatus::throttled: route.metrics->throttled.Inc(); break;
      case SendStatus::permanent: route.metrics->permanent.Inc(); break;
      case SendStatus::invalid_address: route.metrics->invalid_address.Inc(); break;
    }
  }
  const Channel channel = ctx->request.channels[ctx->channel_pos];
  if (result.status == SendStatus::accepted) {
    metrics_.sent.Inc();
    metrics_.sent_by_channel[static_cast<std::size_t>(channel)].Inc();
    Finish(ctx, EventStatus::sent, route.provider->name(), result.provider_message_id,
           result.reason, result.segments);
    return;
  }
  if (result.status == SendStatus::invalid_address) {
    ChannelFailed(ctx, result.reason);
    return;
  }
  const auto& providers_for_channel = routes_[static_cast<std::size_t>(channel)];
  const int max_attempts = config_->retry.max_attempts;
  if (ctx->attempt >= max_attempts) {
    ChannelFailed(ctx, result.reason);
    return;
  }
  // Fail over to the next provider of the channel at once; a permanent error
  // of one provider (bad credentials, an unsupported destination) may not be
  // one of the next.
  if (ctx->route_pos + 1 < providers_for_channel.size()) {
    ++ctx->route_pos;
    TrySend(ctx);
    return;
  }
  if (result.status == SendStatus::permanent) {
    ChannelFailed(ctx, result.reason);
    return;
  }
  ctx->route_pos = 0;
  metrics_.retries.Inc();
  const milliseconds delay = std::max(Backoff(ctx->attempt), result.retry_after);
  Emit(ctx, EventStatus::retrying, false, route.provider->name(), {}, result.reason);
  Park(ctx, delay);
}

void Worker::ChannelFailed(RequestContext* ctx, const std::string& reason) {
  if (ctx->channel_pos + 1 < ctx->request.channels.size()) {
    metrics_.fallbacks.Inc();
    Emit(ctx, EventStatus::fallback, false, {}, {}, reason);
    ++ctx->channel_pos;
    ctx->route_pos = 0;
    ctx->attempt = 0;
    TrySend(ctx);
    return;
  }
  metrics_.failed.Inc();
  Finish(ctx, EventStatus::failed, {}, {}, reason, 0);
}

void Worker::Park(RequestContext* ctx, milliseconds delay) {
  ctx->partition->waiting.insert(ctx);
  if (!ctx->timer) ctx->timer.emplace(loop_->io);
  ctx->timer->expires_after(delay);
  ctx->timer->async_wait([this, ctx](const boost::system::error_code&) {
    ctx->partition->waiting.erase(ctx);
    if (ctx->partition->revoked.load(std::memory_order_relaxed)) {
      // The next owner of the partition starts this request over.
      metrics_.abandoned.Inc();
      Release(ctx, false);
      return;
    }
    TrySend(ctx);
  });
}

milliseconds Worker::Backoff(int attempt) {
  const auto& r = config_->retry;
  const double base = static_cast<double>(r.initial_backoff.count()) *
                      std::pow(r.multiplier, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(r.max_backoff.count()));
  // +-20% jitter so that a provider outage does not come back to a stampede.
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return milliseconds(static_cast<std::int64_t>(capped * jitter(rng_)));
}

void Worker::Finish(RequestContext* ctx, EventStatus status, std::string_view provider,
                    std::string_view provider_message_id, std::string_view reason, int segments) {
  ctx->finished = true;
  Emit(ctx, status, true, provider, provider_message_id, reason, segments);
}

void Worker::Emit(RequestContext* ctx, EventStatus status, bool final, std::string_view provider,
                  std::string_view provider_message_id, std::string_view reason, int segments) {
  Event e;
  e.id = ctx->event_id;
  e.tenant = ctx->request.tenant;
  e.seq = ++ctx->seq;
  e.status = status;
  e.final = final;
  if (!ctx->request.channels.empty()) e.channel = ToString(ctx->request.channels[ctx->channel_pos]);
  e.provider = provider;
  e.provider_message_id = provider_message_id;
  e.attempt = static_cast<std::uint32_t>(ctx->attempt);
  e.reason = reason;
  e.campaign = ctx->request.campaign;
  e.ts = std::chrono::system_clock::now();
  e.segments = segments;
  auto* rec = new PendingRecord();
  rec->worker = this;
  rec->ctx = ctx;
  rec->topic = &config_->kafka.topics.events;
  rec->key = ctx->event_id;
  rec->value.reserve(256);
  AppendEventJson(e, rec->value);
  rec->final = final;
  ++ctx->outstanding_records;
  ProduceRecord(rec);
}

void Worker::ProduceRecord(PendingRecord* rec) {
  std::array<queue::RecordHeader, 8> hdrs;
  std::size_t n = 0;
  for (const auto& [k, v] : rec->headers) {
    if (n < hdrs.size()) hdrs[n++] = {k, v};
  }
  std::string error;
  if (!producer_.Produce(*rec->topic, rec->key, rec->value, std::span(hdrs.data(), n), rec,
                         &error)) {
    spdlog::warn("kafka: cannot enqueue a record for {}: {}; retrying", *rec->topic, error);
    produce_backlog_.push_back(rec);
  }
}

void Worker::QueueDelivery(PendingRecord* rec, bool ok) {
  bool post = false;
  {
    std::lock_guard lock(loop_->deliveries_mu);
    post = loop_->deliveries.empty();
    loop_->deliveries.emplace_back(rec, ok);
  }
  if (post) asio::post(loop_->io, [this] { DrainDeliveries(); });
}

void Worker::DrainDeliveries() {
  auto& batch = loop_->draining;
  {
    std::lock_guard lock(loop_->deliveries_mu);
    batch.swap(loop_->deliveries);
  }
  for (const auto& [rec, ok] : batch) OnRecordDelivered(rec, ok);
  batch.clear();
}

void Worker::OnRecordDelivered(PendingRecord* rec, bool ok) {
  if (!ok) {
    metrics_.event_delivery_failures.Inc();
    produce_backlog_.push_back(rec);  // re-produced on the next tick
    return;
  }
  (rec->dlq ? metrics_.dlq_records : metrics_.events_produced).Inc();
  RequestContext* ctx = rec->ctx;
  if (rec->final) ctx->final_acked = true;
  --ctx->outstanding_records;
  delete rec;
  MaybeComplete(ctx);
}

void Worker::MaybeComplete(RequestContext* ctx) {
  if (ctx->final_acked && ctx->outstanding_records == 0) Release(ctx, true);
}

void Worker::Release(RequestContext* ctx, bool durable) {
  auto& part = *ctx->partition;
  if (durable) {
    part.tracker.MarkDone(ctx->offset);
    part.committable.store(part.tracker.committable(), std::memory_order_release);
  }
  part.busy.fetch_sub(1, std::memory_order_release);
  if (ctx->live_prev != nullptr) {
    ctx->live_prev->live_next = ctx->live_next;
  } else {
    live_head_ = ctx->live_next;
  }
  if (ctx->live_next != nullptr) ctx->live_next->live_prev = ctx->live_prev;
  live_count_.store(--live_size_, std::memory_order_relaxed);
  delete ctx;
}

void Worker::CommitTick() {
  if (consumer_ != nullptr) {
    std::vector<queue::TopicPartition> offsets;
    for (const auto& p : partitions_) {
      if (p->revoked.load(std::memory_order_relaxed)) continue;
      const std::int64_t o = p->tracker.TakeCommit();
      if (o >= 0) offsets.push_back({p->topic, p->partition, o});
    }
    if (!offsets.empty()) consumer_->CommitAsync(offsets);
  }
  if (!produce_backlog_.empty()) {
    auto backlog = std::move(produce_backlog_);
    produce_backlog_.clear();
    for (PendingRecord* rec : backlog) ProduceRecord(rec);
  }
  loop_->commit_timer.expires_after(config_->kafka.commit_interval);
  loop_->commit_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) CommitTick();
  });
}

}  // namespace omnigate::gateway
