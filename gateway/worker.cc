#include "gateway/worker.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <cmath>
#include <mutex>

#include "common/clock.h"
#include "common/duration.h"
#include "common/mask.h"
#include "common/sha256.h"
#include "common/thread_name.h"
#include "gateway/message_status.h"
#include "gateway/policy/policy.h"
#include "gateway/state/redis_store.h"
#include "gateway/state/state_store.h"
#include "gateway/state/turn_batcher.h"
#include "gateway/state_options.h"
#include "providers/log_throttle.h"
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
  asio::steady_timer timer_poll{io};
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
  // Given up (Release) while records or a timer write were still on their
  // way: its bookkeeping is done, its memory waits for the last of them.
  bool released = false;
  std::size_t channel_pos = 0;
  std::size_t route_pos = 0;
  int attempt = 0;  // sends on the current channel
  std::optional<asio::steady_timer> timer;
  std::chrono::steady_clock::time_point parked_since{};  // while in partition->waiting
  // Delivery policy: the checks' ops and their outcome. `checked` once they
  // passed; `skipped[channel]` says why the policy ruled a channel out.
  policy::RequestPolicy policy;
  bool checked = false;
  std::array<std::string, kChannelCount> skipped;
  // Durable timers. `origin`: where this request was read from Kafka, kept
  // in its timer so that its dedup claim recognises it when the timer fires.
  // `timer_id` is set on a request fired from a timer (then `fired_json`
  // holds its bytes and `partition` is the worker's stand-in); a request
  // whose handling continues in a timer it wrote is `handed_to_timer`.
  std::string origin;
  std::string timer_id;
  std::string fired_json;
  bool handed_to_timer = false;
  bool timer_writing = false;
  std::int64_t lease_until_ms = 0;
  state::Op timer_op;
  // Cap keys this request holds a reservation under (Worker::cap_pending_)
  // from its check until its send is counted in the store, or it ends.
  boost::container::small_vector<std::uint64_t, 4> cap_reserved;
  // Receipt-timed cascade: the step (channels[cascade_pos]) this request
  // waits on in its timer, -1 when none; while its records are written,
  // the ops and the `sent` event that follows them.
  int cascade_pos = -1;
  std::array<state::Op, 2> cascade_ops;
  std::string pending_event;
  // Status store: events not yet written to the request's history
  // (AppendHistoryItem form), flushed at its durable points.
  std::string history;
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
  bool reference_only = false;  // a DLQ copy cut to headers only
  queue::ProduceError failure = queue::ProduceError::none;  // of the last attempt

  void OnDelivery(bool ok, std::string_view error, queue::ProduceError kind) override {
    if (!ok) Worker::LogRecordFailure(*topic, error);
    failure = kind;  // read by the worker after QueueDelivery's lock hand-over
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
               GatewayMetrics& metrics, state::StateStore* shared_store, StateHealth* health)
    : index_(index),
      config_(std::move(config)),
      producer_(producer),
      metrics_(metrics),
      store_(shared_store),
      health_(health),
      loop_(std::make_unique<Loop>()),
      rng_(static_cast<unsigned>(index) * 7919u + 17u) {
  timer_partition_ = std::make_shared<PartitionState>();
  timer_partition_->topic = "(timers)";
  timer_partition_->partition = -1;
  timer_partition_->worker = this;
  timer_partitions_ = {timer_partition_};
  if (config_->policy.enabled && config_->state.backend == "redis") {
    own_store_ = std::make_unique<state::RedisStore>(loop_->io, RedisOptions(config_->state.redis),
                                                     SystemClock::Instance());
    store_ = own_store_.get();
  }
  if (store_ != nullptr) batched_store_ = std::make_unique<state::TurnBatcher>(loop_->io, *store_);
  status_on_ = store_ != nullptr && config_->state.status_retention.count() > 0;
  providers_ = MakeWorkerProviders(*config_, loop_->io, config_->pipeline.workers);
  // Routes: the configured failover order per channel.
  for (const auto& [channel, names] : config_->routes) {
    for (const auto& name : names) {
      for (std::size_t i = 0; i < config_->providers.size(); ++i) {
        if (config_->providers[i].name != name) continue;
        ProviderMetrics* m = metrics_.FindProvider(name);
        routes_[static_cast<std::size_t>(channel)].push_back(
            {providers_.providers[i].get(), m, m != nullptr ? m->breaker.get() : nullptr});
      }
    }
  }
}

Worker::~Worker() { Stop(); }

void Worker::Start(queue::KafkaConsumer* consumer) {
  consumer_ = consumer;
  if (own_store_) asio::post(loop_->io, [this] { own_store_->Start(); });
  CommitTick();
  if (store_ != nullptr) asio::post(loop_->io, [this] { PollTimers(); });
  thread_ = std::thread([this] {
    SetThreadName("og-worker-" + std::to_string(index_));
    loop_->io.run();
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  asio::post(loop_->io, [this] {
    loop_->commit_timer.cancel();
    loop_->timer_poll.cancel();
    // Before the requests go: closing the connection answers its pending
    // batches (unavailable), and those answers write into the requests' ops.
    stopped_ = true;
    own_store_.reset();
    while (live_head_ != nullptr) {
      RequestContext* next = live_head_->live_next;
      delete live_head_;
      live_head_ = next;
    }
    live_size_ = 0;
    for (RequestContext* ctx : released_) delete ctx;
    released_.clear();
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
// So: transactional records first, then bulk, in slices, yielding to the
// io_context in between (bulk only once no transactional record waits).
// Transactional records come in slices too: between two, the slice's state
// checks run (the store batch posted by the first) and give their buffers
// back, so the next slice reuses them while they are in cache; a burst of
// thousands started at once would each hold its own, cold by its turn.
void Worker::DrainIncoming() {
  constexpr std::size_t kTransactionalSlice = 64;
  constexpr std::size_t kBulkSlice = 64;
  drain_posted_ = false;
  for (std::size_t i = 0; i < kTransactionalSlice && !transactional_in_.empty(); ++i) {
    Incoming in = std::move(transactional_in_.front());
    transactional_in_.pop_front();
    Process(in);
  }
  for (std::size_t i = 0; i < kBulkSlice && transactional_in_.empty() && !bulk_in_.empty(); ++i) {
    Incoming in = std::move(bulk_in_.front());
    bulk_in_.pop_front();
    Process(in);
  }
  if ((!transactional_in_.empty() || !bulk_in_.empty()) && !drain_posted_) {
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

void Worker::StartDraining() {
  asio::post(loop_->io, [this] {
    draining_ = true;
    // Never tracked, so never committed past: the next owner reads them.
    transactional_in_.clear();
    bulk_in_.clear();
    // Cancelling wakes each parked request; its handler sees draining_ and
    // abandons it.
    for (const auto& p : partitions_) {
      for (RequestContext* ctx : p->waiting) {
        if (ctx->timer) ctx->timer->cancel();
      }
    }
    for (RequestContext* ctx : timer_partition_->waiting) {
      if (ctx->timer) ctx->timer->cancel();
    }
    // Queued for a connection slot, not yet written: they come back as
    // not_sent and are abandoned (OnSendResult).
    std::size_t queued = 0;
    for (const auto& provider : providers_.providers) queued += provider->AbandonQueued();
    if (queued > 0) {
      spdlog::info("shutting down: worker {} took {} request(s) off provider queues before they "
                   "were sent",
                   index_, queued);
    }
  });
}

std::future<std::vector<queue::TopicPartition>> Worker::FinalCommits(
    std::vector<std::shared_ptr<PartitionState>> partitions) {
  auto promise = std::make_shared<std::promise<std::vector<queue::TopicPartition>>>();
  auto future = promise->get_future();
  asio::post(loop_->io, [this, promise, parts = std::move(partitions)] {
    std::vector<queue::TopicPartition> out;
    for (const auto& p : parts) {
      auto c = p->tracker.TakeCommitWithDone(config_->kafka.commit_metadata_max_bytes, true);
      if (c) out.push_back({p->topic, p->partition, c->offset, std::move(c->metadata)});
    }
    promise->set_value(std::move(out));
  });
  return future;
}

bool Worker::DoneBefore(PartitionState& part, std::int64_t offset) {
  auto& ranges = part.done_before;
  auto& pos = part.done_before_pos;
  while (pos < ranges.size() && ranges[pos].second <= offset) ++pos;
  return pos < ranges.size() && ranges[pos].first <= offset;
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
  if (!part->done_before.empty() && DoneBefore(*part, offset)) {
    // Its final event was acknowledged before the restart or rebalance; only
    // the commit had not caught up.
    metrics_.redelivered_done.Inc();
    part->tracker.MarkDone(offset);
    part->committable.store(part->tracker.committable(), std::memory_order_release);
    return;
  }
  auto* ctx = new RequestContext();
  ctx->partition = part;
  ctx->offset = offset;
  ctx->message = std::move(in.message);
  Track(ctx);
  (part->lane == Lane::bulk ? metrics_.consumed_bulk : metrics_.consumed_transactional).Inc();

  auto decoded = decoder_.Decode(ctx->message.payload(), part->lane);
  if (!decoded) {
    Reject(ctx, decoded.error());
    return;
  }
  ctx->request = std::move(decoded).value();
  const auto& pc = config_->pipeline;
  if (ctx->request.send_at &&
      *ctx->request.send_at > std::chrono::system_clock::now() + pc.max_schedule_ahead) {
    // With the state store a schedule is a durable timer; without it the
    // request waits in memory holding its partition's committed offset. Either
    // way a publisher's far-future send_at (a unit mix-up, a bad clock) is
    // refused rather than kept for years.
    metrics_.schedule_too_far.Inc();
    Reject(ctx, {"send_at", "horizon",
                 fmt::format("is more than pipeline.max_schedule_ahead ({} s) ahead",
                             std::chrono::duration_cast<std::chrono::seconds>(
                                 pc.max_schedule_ahead)
                                 .count())});
    return;
  }
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
  FitDlqRecord(rec);
  ++ctx->outstanding_records;
  ProduceRecord(rec);
  metrics_.rejected.Inc();
  Finish(ctx, EventStatus::rejected, {}, {}, reason, 0);
}

void Worker::Track(RequestContext* ctx) {
  ctx->partition->busy.fetch_add(1, std::memory_order_relaxed);
  ctx->live_next = live_head_;
  if (live_head_ != nullptr) live_head_->live_prev = ctx;
  live_head_ = ctx;
  live_count_.store(++live_size_, std::memory_order_relaxed);
}

void Worker::Begin(RequestContext* ctx) {
  const auto now = std::chrono::system_clock::now();
  const auto& req = ctx->request;
  if (store_ != nullptr) {
    TrySend(ctx);  // checks first; a send_at ahead becomes a durable timer (OnChecked)
    return;
  }
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
  if (draining_) {
    Abandon(ctx);
    return;
  }
  const auto& req = ctx->request;
  if (req.expires_at && *req.expires_at <= std::chrono::system_clock::now()) {
    metrics_.expired.Inc();
    Finish(ctx, EventStatus::expired, {}, {}, "expires_at passed before it could be sent", 0);
    return;
  }
  if (store_ != nullptr && !ctx->checked) {
    RunChecks(ctx);  // continues here (TrySend) once they pass
    return;
  }
  const Channel channel = req.channels[ctx->channel_pos];
  const auto& route = routes_[static_cast<std::size_t>(channel)];
  if (route.empty()) {
    ChannelFailed(ctx, "no_provider");
    return;
  }
  if (ctx->route_pos >= route.size()) ctx->route_pos = 0;
  // Providers whose circuit is open are skipped without an attempt. When
  // every one left is open, the request takes the path of a "try later"
  // answer from the last (retry with backoff, or the next channel once its
  // attempts are spent) without touching the network.
  const auto now = std::chrono::steady_clock::now();
  while (ctx->route_pos < route.size() && route[ctx->route_pos].breaker != nullptr &&
         !route[ctx->route_pos].breaker->Allow(now)) {
    ++ctx->route_pos;
  }
  if (ctx->route_pos == route.size()) {
    ctx->route_pos = route.size() - 1;
    ++ctx->attempt;
    auto reopens = route.back().breaker->retry_at();
    for (const auto& r : route) {
      if (r.breaker != nullptr && r.breaker->state() == providers::CircuitBreaker::State::open) {
        reopens = std::min(reopens, r.breaker->retry_at());
      }
    }
    providers::SendResult open;
    open.status = providers::SendStatus::retry;
    open.reason = "circuit_open";
    open.retry_after = std::max(milliseconds(0), std::chrono::ceil<milliseconds>(reopens - now));
    OnSendResult(ctx, {route.back().provider, nullptr, nullptr}, std::move(open));
    return;
  }
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
      // Views into the request, never into a temporary: `cond ? str : ""`
      // would make a std::string temporary that dies at the semicolon.
      std::string_view caption;
      std::string_view url;
      if (v.button) {
        caption = v.button->caption;
        url = v.button->url;
      }
      msg.viber = {req.to.viber, v.text, v.image_url, caption, url};
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
  if (route.breaker != nullptr) {
    if (result.not_sent) {
      route.breaker->Cancel();
    } else {
      // Any answer means the endpoint is up; only "try later" (connection
      // errors, timeouts, 5xx) counts toward opening the circuit.
      route.breaker->Record(result.status != SendStatus::retry, std::chrono::steady_clock::now());
    }
  }
  if (result.not_sent) {
    // Taken out of the adapter's queue at shutdown before it reached the
    // wire: the next owner sends it, once.
    Abandon(ctx);
    return;
  }
  if (result.status == SendStatus::permanent || result.status == SendStatus::invalid_address) {
    auto it = failure_tally_.find(route.provider->name());
    if (it == failure_tally_.end()) {
      it = failure_tally_.emplace(std::string(route.provider->name()), FailureTally{}).first;
    }
    ++(result.status == SendStatus::permanent ? it->second.permanent : it->second.invalid_address);
    it->second.last_reason = result.reason;
  }
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
    // A step that waits for its receipt is not the request's end: its
    // receipt or the next channel's send is.
    if (WaitingStep(ctx, result.provider_message_id) == nullptr) metrics_.sent.Inc();
    metrics_.sent_by_channel[static_cast<std::size_t>(channel)].Inc();
    if (store_ != nullptr) {
      RecordSent(ctx, route, std::move(result));
      return;
    }
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
  // A provider's Retry-After is honoured up to retry.max_backoff: a parked
  // request holds its partition's committed offset, and "come back
  // tomorrow" would hold it for a day.
  const milliseconds delay =
      std::max(Backoff(ctx->attempt), std::min(result.retry_after, config_->retry.max_backoff));
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
    if (SkipDisallowedChannels(ctx)) {
      TrySend(ctx);
      return;
    }
  }
  metrics_.failed.Inc();
  Finish(ctx, EventStatus::failed, {}, {}, reason, 0);
}

bool Worker::SkipDisallowedChannels(RequestContext* ctx) {
  const auto& channels = ctx->request.channels;
  while (ctx->channel_pos < channels.size()) {
    const auto& why = ctx->skipped[static_cast<std::size_t>(channels[ctx->channel_pos])];
    if (why.empty()) return true;
    if (ctx->channel_pos + 1 == channels.size()) return false;  // stays on the last one
    metrics_.fallbacks.Inc();
    Emit(ctx, EventStatus::fallback, false, {}, {}, why);
    ++ctx->channel_pos;
  }
  return false;
}

void Worker::RunChecks(RequestContext* ctx) {
  const auto& req = ctx->request;
  // The record's place in Kafka: a claim with the same origin is this record
  // redelivered (crash, rebalance), not a second publish of the id.
  if (ctx->origin.empty()) {
    // "topic/partition/offset", built by hand: it is made for every request.
    char partition[16];
    char offset[24];
    const auto p_end = std::to_chars(std::begin(partition), std::end(partition),
                                     ctx->partition->partition).ptr;
    const auto o_end = std::to_chars(std::begin(offset), std::end(offset), ctx->offset).ptr;
    const std::string_view parts[] = {ctx->partition->topic, "/",
                                      std::string_view(partition, p_end), "/",
                                      std::string_view(offset, o_end)};
    std::size_t size = 0;
    for (const auto part : parts) size += part.size();
    ctx->origin.reserve(size);
    for (const auto part : parts) ctx->origin.append(part);
  }
  ctx->policy.Prepare(req, config_->policy.For(req.tenant), ctx->origin,
                      SystemClock::Instance().Now());
  batched_store_->Execute(ctx->policy.ops(), [this, ctx](state::StoreStatus status) {
    if (stopped_) return;
    OnChecked(ctx, status == state::StoreStatus::ok);
  });
}

void Worker::OnChecked(RequestContext* ctx, bool ok) {
  if (health_ != nullptr) health_->Report(static_cast<std::size_t>(index_), ok);
  if (!ok) {
    // Never sent unchecked: the request waits (uncommitted) and is checked
    // again; the pipeline pauses consumption until the store answers.
    metrics_.state_unavailable.Inc();
    std::uniform_int_distribution<int> jitter(400, 600);
    Park(ctx, milliseconds(jitter(rng_)));
    return;
  }
  using Verdict = policy::Decision::Verdict;
  const policy::Decision d =
      ctx->policy.Decide(SystemClock::Instance().Now(), [this](std::uint64_t key) {
        return cap_pending_.Get(key);
      });
  auto& row = metrics_.policy.For(ctx->request.tenant);
  // An allowed request is counted when it goes (below), not when a
  // schedule or quiet hours defer it.
  if (d.outcome != policy::Outcome::allowed) row[static_cast<std::size_t>(d.outcome)].Inc();
  switch (d.verdict) {
    case Verdict::duplicate:
      metrics_.duplicates.Inc();
      Finish(ctx, EventStatus::duplicate, {}, {}, d.reason, 0);
      return;
    case Verdict::suppressed:
      metrics_.suppressed.Inc();
      Finish(ctx, EventStatus::suppressed, {}, {}, d.reason, 0);
      return;
    case Verdict::already_sent:
      // Its final event may be the one that was lost: say it again, with
      // what the first send recorded.
      if (d.channel) {
        const auto& channels = ctx->request.channels;
        const auto it = std::find(channels.begin(), channels.end(), *d.channel);
        if (it != channels.end()) ctx->channel_pos = static_cast<std::size_t>(it - channels.begin());
      }
      if (const auto* step = WaitingStep(ctx, d.provider_message_id)) {
        // A cascade step that waits for its receipt, redelivered (a crash
        // before its commit): it waits again, in a timer written anew
        // (the first one may not have been), from now.
        std::string sent_event = BuildEvent(ctx, EventStatus::sent, false, d.provider,
                                            d.provider_message_id, d.reason, 0);
        FlushHistory(ctx);
        AwaitReceipt(ctx, std::move(sent_event), SystemClock::Instance().Now() + step->timeout);
        return;
      }
      metrics_.sent.Inc();
      Finish(ctx, EventStatus::sent, d.provider, d.provider_message_id, d.reason, 0);
      return;
    case Verdict::deferred:
      Defer(ctx, d.defer_until, EventStatus::deferred, d.reason);
      return;
    case Verdict::send:
      break;
  }
  ctx->checked = true;
  const auto& req = ctx->request;
  const auto now = std::chrono::system_clock::now();
  // A deferral records nothing about the channels: the checks run again
  // when its timer fires, and their skips are reported then, once.
  if (req.send_at && *req.send_at > now) {
    Defer(ctx, *req.send_at, EventStatus::scheduled, {});
    return;
  }
  std::size_t first = 0;  // Decide() left at least one channel
  while (first + 1 < req.channels.size() &&
         !d.skipped[static_cast<std::size_t>(req.channels[first])].empty()) {
    ++first;
  }
  const Channel channel = req.channels[first];
  if (auto hold = policy::QuietHoursHold(req, config_->policy.For(req.tenant), channel, zones_,
                                         now)) {
    row[static_cast<std::size_t>(policy::Outcome::deferred_quiet_hours)].Inc();
    Defer(ctx, hold->until, EventStatus::deferred, hold->reason);
    return;
  }
  for (const Channel c : req.channels) {
    const auto i = static_cast<std::size_t>(c);
    if (d.skipped[i].empty()) continue;
    ctx->skipped[i] = d.skipped[i];
    row[static_cast<std::size_t>(d.skipped_outcome[i])].Inc();
  }
  SkipDisallowedChannels(ctx);
  row[static_cast<std::size_t>(policy::Outcome::allowed)].Inc();
  // Reserved until the send is counted: the recipient's next request, checked
  // meanwhile, sees this one. (A recipient's requests share a partition, so
  // one worker sees them all.)
  ctx->cap_reserved.clear();
  ctx->policy.CapKeyHashesFor(channel, ctx->cap_reserved);
  for (const auto key : ctx->cap_reserved) cap_pending_.Add(key, 1);
  ctx->policy.Suspend(channel);  // while the provider answers
  TrySend(ctx);
}

void Worker::ReleaseCaps(RequestContext* ctx) {
  for (const auto key : ctx->cap_reserved) cap_pending_.Add(key, -1);
  ctx->cap_reserved.clear();
}

namespace {

constexpr std::chrono::milliseconds kTimerLease{60'000};
// A cascade record outlives its step's timeout by this much at least.
constexpr std::chrono::milliseconds kCascadeSlack{86'400'000};
constexpr std::chrono::milliseconds kTimerPoll{250};

std::int64_t EpochMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string TimerId(const SendRequest& req) { return TimerKey(req.tenant, req.id); }

// A timer's payload: a version line, the lane, the last event's seq, the
// origin, (og2: the cascade step it waits on,) then the request's bytes as
// they were published.
std::string TimerPayload(const RequestContext& ctx) {
  const std::string_view json =
      ctx.timer_id.empty() ? ctx.message.payload() : std::string_view(ctx.fired_json);
  const char lane = ctx.request.lane == Lane::bulk ? 'b' : 't';
  if (ctx.cascade_pos >= 0) {
    return fmt::format("og2\n{}\n{}\n{}\n{}\n{}", lane, ctx.seq, ctx.origin, ctx.cascade_pos,
                       json);
  }
  return fmt::format("og1\n{}\n{}\n{}\n{}", lane, ctx.seq, ctx.origin, json);
}

}  // namespace

void Worker::Defer(RequestContext* ctx, std::chrono::system_clock::time_point until,
                   EventStatus status, std::string reason) {
  const auto& req = ctx->request;
  if (req.expires_at && until >= *req.expires_at) {
    metrics_.expired.Inc();
    Finish(ctx, EventStatus::expired, {}, {},
           fmt::format("expires_at comes before it could be sent{}{}",
                       reason.empty() ? "" : "; ", reason),
           0);
    return;
  }
  if (draining_) {
    Abandon(ctx);
    return;
  }
  metrics_.deferred.Inc();
  Emit(ctx, status, false, {}, {}, reason);
  FlushHistory(ctx);
  // The request now lives in its timer: once the timer is written and the
  // event acknowledged, its offset is committed (nothing pins the partition).
  ctx->timer_op = state::Op{.type = state::Op::Type::timer_set,
                            .family = state::Family::timer,
                            .key = TimerId(req),
                            .value = TimerPayload(*ctx),
                            .due_ms = EpochMs(until)};
  ++ctx->outstanding_records;
  WriteTimer(ctx);
}

void Worker::WriteTimer(RequestContext* ctx) {
  WriteDurably(ctx, std::span(&ctx->timer_op, 1), [this, ctx] {
    ctx->handed_to_timer = true;
    ctx->final_acked = true;  // its handling here has reached a durable point
    --ctx->outstanding_records;
    MaybeComplete(ctx);
  });
}

void Worker::WriteDurably(RequestContext* ctx, std::span<state::Op> ops,
                          std::function<void()> stored) {
  ctx->timer_writing = true;
  store_->Execute(ops, [this, ctx, ops, stored = std::move(stored)](state::StoreStatus status) {
    if (stopped_) return;
    const bool ok = status == state::StoreStatus::ok;
    if (health_ != nullptr) health_->Report(static_cast<std::size_t>(index_), ok);
    if (!ok) {
      // Not durable yet: the request stays in flight (its offset held) and
      // the write is tried again.
      metrics_.state_unavailable.Inc();
      if (!ctx->timer) ctx->timer.emplace(loop_->io);
      ctx->timer->expires_after(milliseconds(500));
      ctx->timer->async_wait([this, ctx, ops, stored](const boost::system::error_code&) {
        if (stopped_) return;
        if (draining_ || ctx->partition->revoked.load(std::memory_order_relaxed)) {
          ctx->timer_writing = false;
          --ctx->outstanding_records;
          Abandon(ctx);
          return;
        }
        WriteDurably(ctx, ops, stored);
      });
      return;
    }
    ctx->timer_writing = false;
    stored();
  });
}

void Worker::PollTimers() {
  if (stopped_) return;
  RenewLeases();
  const std::size_t cap = std::max<std::size_t>(
      64, static_cast<std::size_t>(config_->pipeline.max_in_flight / config_->pipeline.workers));
  if (!draining_ && !claiming_ && live_size_ < cap) {
    claiming_ = true;
    store_->ClaimDueTimers(std::min<std::size_t>(256, cap - live_size_), kTimerLease,
                           [this](state::StoreStatus status, std::vector<state::DueTimer> due) {
                             if (stopped_) return;
                             claiming_ = false;
                             if (status != state::StoreStatus::ok) return;
                             for (auto& t : due) FireTimer(std::move(t));
                           });
  }
  loop_->timer_poll.expires_after(kTimerPoll);
  loop_->timer_poll.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) PollTimers();
  });
}

void Worker::FireTimer(state::DueTimer t) {
  // og1 \n lane \n seq \n origin \n json, or og2 with the cascade step
  // after the origin.
  std::array<std::string_view, 5> head;
  std::string_view rest = t.payload;
  const bool og2 = rest.starts_with("og2\n");
  bool ok = true;
  for (std::size_t i = 0; i < (og2 ? 5u : 4u); ++i) {
    auto& field = head[i];
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      ok = false;
      break;
    }
    field = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  std::uint32_t seq = 0;
  int cascade_pos = -1;
  if (ok) ok = (head[0] == "og1" || og2) && (head[1] == "b" || head[1] == "t");
  if (ok) ok = std::from_chars(head[2].data(), head[2].data() + head[2].size(), seq).ec == std::errc();
  if (ok && og2) {
    ok = std::from_chars(head[4].data(), head[4].data() + head[4].size(), cascade_pos).ec ==
             std::errc() &&
         cascade_pos >= 0;
  }
  if (!ok) {
    spdlog::error("state: timer {} holds no request this version can read; dropped", t.id);
    EraseTimer(t.id);
    return;
  }
  auto* ctx = new RequestContext();
  ctx->partition = timer_partition_;
  ctx->timer_id = std::move(t.id);
  ctx->origin = head[3];
  ctx->seq = seq;
  ctx->fired_json.assign(rest);
  ctx->lease_until_ms = EpochMs(std::chrono::system_clock::now()) + kTimerLease.count();
  Track(ctx);
  fired_.insert(ctx);
  metrics_.timers_fired.Inc();
  auto decoded = decoder_.Decode(ctx->fired_json, head[1] == "b" ? Lane::bulk : Lane::transactional);
  if (!decoded) {
    spdlog::error("state: timer {} holds a request that no longer decodes ({}); dropped",
                  ctx->timer_id, decoded.error().ToString());
    Release(ctx, true);
    return;
  }
  ctx->request = std::move(decoded).value();
  ctx->event_id = ctx->request.id;
  if (cascade_pos >= 0) {
    if (static_cast<std::size_t>(cascade_pos) + 1 >= ctx->request.channels.size()) {
      Release(ctx, true);  // no next step (cannot happen with a valid request)
      return;
    }
    // Checked when it was first sent; the step decides what comes next.
    // (Prepared all the same: recording the next step's send needs it.)
    ctx->policy.Prepare(ctx->request, config_->policy.For(ctx->request.tenant), ctx->origin,
                        SystemClock::Instance().Now());
    ctx->checked = true;
    ctx->channel_pos = static_cast<std::size_t>(cascade_pos);
    ctx->cascade_pos = cascade_pos;
    CascadeTimerFired(ctx);
    return;
  }
  TrySend(ctx);
}

void Worker::EraseTimer(const std::string& id) {
  auto ops = std::make_shared<std::vector<state::Op>>(
      1, state::Op{.type = state::Op::Type::erase, .family = state::Family::timer, .key = id});
  // Best effort: a timer left behind fires again after its lease, and its
  // dedup record then stops a second send.
  store_->Execute(*ops, [ops](state::StoreStatus) {});
}

// A fired request can outlive its lease (retries with back-off): the lease
// is renewed while it lives, so that no other worker or instance fires it.
void Worker::RenewLeases() {
  if (fired_.empty() || store_ == nullptr) return;
  const std::int64_t now = EpochMs(std::chrono::system_clock::now());
  auto ops = std::make_shared<std::vector<state::Op>>();
  std::vector<RequestContext*> renewed;
  for (RequestContext* ctx : fired_) {
    if (ctx->handed_to_timer || ctx->timer_writing) continue;
    if (ctx->lease_until_ms - now > kTimerLease.count() / 2) continue;
    ops->push_back(state::Op{.type = state::Op::Type::timer_set,
                             .family = state::Family::timer,
                             .key = ctx->timer_id,
                             .value = TimerPayload(*ctx),
                             .due_ms = now + kTimerLease.count()});
    ctx->lease_until_ms = now + kTimerLease.count();
  }
  if (ops->empty()) return;
  store_->Execute(*ops, [ops](state::StoreStatus status) {
    if (status != state::StoreStatus::ok) {
      spdlog::warn("state: {} timer lease(s) could not be renewed; another instance may fire "
                   "them, and their dedup records keep the send single",
                   ops->size());
    }
  });
}

void Worker::ProbeStore() {
  if (store_ == nullptr || health_ == nullptr || probing_ || stopped_) return;
  // A redis connection that is down (or never came up: wrong address or
  // password) makes this worker unready even before a request needs it.
  if (own_store_ && !own_store_->connected()) {
    health_->Report(static_cast<std::size_t>(index_), false);
    return;
  }
  if (!health_->down(static_cast<std::size_t>(index_))) return;
  probing_ = true;
  probe_.assign(1, state::Op{.type = state::Op::Type::get, .family = state::Family::dedup,
                             .key = "omnigate-probe"});
  store_->Execute(probe_, [this](state::StoreStatus status) {
    if (stopped_) return;
    probing_ = false;
    health_->Report(static_cast<std::size_t>(index_), status == state::StoreStatus::ok);
  });
}

const CascadeStep* Worker::WaitingStep(const RequestContext* ctx,
                                       std::string_view provider_message_id) const {
  const auto& req = ctx->request;
  if (!status_on_ || provider_message_id.empty() || ctx->channel_pos + 1 >= req.channels.size()) {
    return nullptr;
  }
  const auto& step = req.cascade[static_cast<std::size_t>(req.channels[ctx->channel_pos])];
  return step && step->wait_for != WaitFor::sent ? &*step : nullptr;
}

void Worker::RecordSent(RequestContext* ctx, const Route& route, providers::SendResult result) {
  const Channel channel = ctx->request.channels[ctx->channel_pos];
  ctx->policy.PrepareSent(channel, route.provider->name(), result.provider_message_id,
                          SystemClock::Instance().Now());
  // The final event is made now so that the status store's history, written
  // in the same batch as the send record, holds it as Kafka will; and the
  // provider's id leads back to the request from then on (receipts).
  // A cascade step with a wait_for: the request goes on waiting for a
  // receipt in a timer, its `sent` is not final.
  const CascadeStep* step = WaitingStep(ctx, result.provider_message_id);
  const bool wait = step != nullptr;
  std::string final_event = BuildEvent(ctx, EventStatus::sent, !wait, route.provider->name(),
                                       result.provider_message_id, result.reason, result.segments);
  if (auto history = TakeHistory(ctx)) ctx->policy.AddOp(std::move(*history));
  if (wait) {
    // Before the provider id's record: a receipt that finds the request
    // finds it waiting.
    ctx->policy.AddOp(state::Op{
        .type = state::Op::Type::put,
        .family = state::Family::status,
        .key = CascadeKey(ctx->request.tenant, ctx->request.id),
        .value = EncodeCascadeState({.state = 'w', .pos = ctx->channel_pos, .channel = channel,
                                     .wait_for = step->wait_for}),
        .ttl = std::max(config_->state.status_retention, step->timeout + kCascadeSlack)});
  }
  if (status_on_ && !result.provider_message_id.empty()) {
    ctx->policy.AddOp(state::Op{
        .type = state::Op::Type::put,
        .family = state::Family::status,
        .key = ProviderIdKey(result.provider_message_id),
        .value = EncodeSentRef({.provider = std::string(route.provider->name()),
                                .tenant = ctx->request.tenant,
                                .id = ctx->request.id,
                                .channel = channel,
                                .address = policy::AddressOf(ctx->request, channel),
                                .waits = wait}),
        .ttl = config_->state.status_retention});
  }
  // The final event waits for the record: a redelivery (crash before the
  // commit) then finds the send recorded and does not repeat it.
  const milliseconds step_timeout = wait ? step->timeout : milliseconds(0);
  batched_store_->Execute(ctx->policy.ops(), [this, ctx, provider = std::string(route.provider->name()),
                                      final_event = std::move(final_event), wait, step_timeout,
                                      result = std::move(result)](state::StoreStatus status) mutable {
    // The provider's slot was held until now: what a crash can repeat stays
    // within the provider's max_in_flight (DESIGN.md §8).
    result.slot.Release();
    if (stopped_) return;
    ReleaseCaps(ctx);  // counted in the store now (or, failing that, never)
    ctx->policy.Done();
    const bool ok = status == state::StoreStatus::ok;
    if (health_ != nullptr) health_->Report(static_cast<std::size_t>(index_), ok);
    if (!ok) {
      // The send happened; its event must not be held back by the store.
      metrics_.state_record_failures.Inc();
      std::uint64_t held = 0;
      if (providers::ShouldLog("state-record", "", std::chrono::seconds(1), &held)) {
        spdlog::warn("state: a send accepted by {} could not be recorded in the {} store (+{} "
                     "more); its final event goes out, but a redelivery of it before the "
                     "commit would be sent again",
                     provider, store_->backend(), held);
      }
    }
    if (wait) {
      AwaitReceipt(ctx, std::move(final_event), SystemClock::Instance().Now() + step_timeout);
      return;
    }
    ctx->finished = true;
    ProduceEvent(ctx, std::move(final_event), true);
  });
}

// The step's send is recorded, and the cascade record says it waits: now
// the timer that holds the request until the timeout, then the `sent`
// event (not final), and the request's offset can be committed.
void Worker::AwaitReceipt(RequestContext* ctx, std::string sent_event,
                          std::chrono::system_clock::time_point timeout_at) {
  ctx->cascade_pos = static_cast<int>(ctx->channel_pos);
  ctx->pending_event = std::move(sent_event);
  ctx->cascade_ops[0] = state::Op{.type = state::Op::Type::timer_set,
                                  .family = state::Family::timer,
                                  .key = TimerId(ctx->request),
                                  .value = TimerPayload(*ctx),
                                  .due_ms = EpochMs(timeout_at)};
  // A failure receipt that came between the cascade record and the timer
  // found no timer to make due: read the record again after writing it.
  ctx->cascade_ops[1] = state::Op{.type = state::Op::Type::get,
                                  .family = state::Family::status,
                                  .key = CascadeKey(ctx->request.tenant, ctx->request.id)};
  ++ctx->outstanding_records;
  WriteCascade(ctx);
}

void Worker::WriteCascade(RequestContext* ctx) {
  // Straight to the store, not through the turn's batch: a timer in a batch
  // makes the embedded store run the whole batch op by op. If the store
  // fails and the request is given up, its redelivery finds the send
  // record and waits again (OnChecked, already_sent).
  WriteDurably(ctx, ctx->cascade_ops, [this, ctx] {
    const auto now = DecodeCascadeState(ctx->cascade_ops[1].result);
    if (ctx->cascade_ops[1].found && now && now->state == 'f' &&
        now->pos == static_cast<std::size_t>(ctx->cascade_pos)) {
      // Failed already: due now. (Its own copy of the op: the request may
      // be gone before the store answers.)
      auto due = std::make_shared<std::vector<state::Op>>(1, ctx->cascade_ops[0]);
      (*due)[0].due_ms = EpochMs(std::chrono::system_clock::now());
      store_->Execute(*due, [due](state::StoreStatus) {});
    }
    ProduceEvent(ctx, std::move(ctx->pending_event), false);
    ctx->handed_to_timer = true;
    ctx->final_acked = true;  // the timer holds it now
    --ctx->outstanding_records;
    MaybeComplete(ctx);
  });
}

// A cascade step's timer fired: the step timed out, or a failure receipt
// made it due, or the next step's quiet hours ended. The cascade record says
// which, and moving it off its state decides, once, whether this instance
// moves to the next channel.
void Worker::CascadeTimerFired(RequestContext* ctx) {
  auto ops = std::make_shared<std::vector<state::Op>>(
      1, state::Op{.type = state::Op::Type::get,
                   .family = state::Family::status,
                   .key = CascadeKey(ctx->request.tenant, ctx->request.id)});
  store_->Execute(*ops, [this, ctx, ops](state::StoreStatus status) {
    if (stopped_) return;
    if (status != state::StoreStatus::ok) {
      metrics_.state_unavailable.Inc();
      Park(ctx, milliseconds(500));  // TrySend would re-run it: see below
      return;
    }
    const auto state = (*ops)[0].found ? DecodeCascadeState((*ops)[0].result) : std::nullopt;
    if (!state || state->pos != static_cast<std::size_t>(ctx->cascade_pos) ||
        (state->state != 'w' && state->state != 'f' && state->state != 'q')) {
      // Done (the wanted receipt came), or already moved on: nothing to do
      // but forget the timer.
      Release(ctx, true);
      return;
    }
    // The later steps are checked again now that they come: an opt-out
    // recorded since the first step holds for them.
    const auto& req = ctx->request;
    ctx->policy.PrepareChannels(req, config_->policy.For(req.tenant), ctx->origin,
                                state->pos + 1);
    batched_store_->Execute(ctx->policy.ops(), [this, ctx, ops, step = *state](
                                                   state::StoreStatus checked) {
      if (stopped_) return;
      if (checked != state::StoreStatus::ok) {
        metrics_.state_unavailable.Inc();
        Park(ctx, milliseconds(500));  // the record is unchanged: it starts over
        return;
      }
      NextCascadeStep(ctx, step, (*ops)[0].key, (*ops)[0].result);
    });
  });
}

void Worker::NextCascadeStep(RequestContext* ctx, const CascadeState& step,
                             const std::string& key, const std::string& expected) {
  const auto& req = ctx->request;
  const auto& tp = config_->policy.For(req.tenant);
  const auto now = SystemClock::Instance().Now();
  const policy::Decision d = ctx->policy.Decide(now);
  auto& row = metrics_.policy.For(req.tenant);
  std::size_t next = step.pos + 1;
  std::string skips;  // why each later channel is skipped, when none is left
  for (std::size_t i = next; i < req.channels.size(); ++i) {
    const auto c = static_cast<std::size_t>(req.channels[i]);
    ctx->skipped[c] = d.skipped[c];
    if (d.skipped[c].empty()) continue;
    row[static_cast<std::size_t>(d.skipped_outcome[c])].Inc();
    if (!skips.empty()) skips += "; ";
    skips += d.skipped[c];
  }
  while (next < req.channels.size() &&
         !ctx->skipped[static_cast<std::size_t>(req.channels[next])].empty()) {
    ++next;
  }
  const bool none_left = next == req.channels.size();
  std::optional<policy::QuietHold> hold;
  if (!none_left) hold = policy::QuietHoursHold(req, tp, req.channels[next], zones_, now);
  std::string reason =
      step.state == 'w'
          ? fmt::format("cascade_timeout: no {} within {}", ToString(step.wait_for),
                        FormatDuration(req.cascade[static_cast<std::size_t>(step.channel)]->timeout))
          : fmt::format("cascade_receipt: {}", step.detail);
  CascadeState moved = step;
  moved.state = hold ? 'q' : 'x';  // 'q': held by the next channel's quiet hours
  moved.detail.clear();
  auto move = std::make_shared<std::vector<state::Op>>(
      1, state::Op{.type = state::Op::Type::compare_and_set,
                   .family = state::Family::status,
                   .key = key,
                   .value = EncodeCascadeState(moved),
                   .ttl = std::max(config_->state.status_retention, kCascadeSlack),
                   .expected = expected});
  store_->Execute(*move, [this, ctx, move, step, next, none_left, hold = std::move(hold),
                          reason = std::move(reason),
                          skips = std::move(skips)](state::StoreStatus moved_status) mutable {
    if (stopped_) return;
    if (moved_status != state::StoreStatus::ok) {
      metrics_.state_unavailable.Inc();
      Park(ctx, milliseconds(500));
      return;
    }
    if (!(*move)[0].found) {
      // A receipt got there first: look again.
      CascadeTimerFired(ctx);
      return;
    }
    // (A failure receipt's step is counted where the receipt came in.)
    if (step.state == 'w') metrics_.cascade_timeouts.Inc();
    if (none_left) {
      ctx->cascade_pos = -1;
      metrics_.suppressed.Inc();
      Finish(ctx, EventStatus::suppressed, {}, {},
             step.state == 'q' ? skips : reason + "; " + skips, 0);
      return;
    }
    // A step that was held by quiet hours said its fallback then.
    if (step.state != 'q') {
      metrics_.fallbacks.Inc();
      Emit(ctx, EventStatus::fallback, false, {}, {}, reason);
    }
    if (hold) {
      // The timer comes back to this step, whose record now says "held".
      ctx->channel_pos = next;  // the deferral is the next channel's
      metrics_.policy.For(ctx->request.tenant)[static_cast<std::size_t>(
                                                  policy::Outcome::deferred_quiet_hours)]
          .Inc();
      Defer(ctx, hold->until, EventStatus::deferred, hold->reason);
      return;
    }
    ctx->cascade_pos = -1;
    ctx->channel_pos = step.pos + 1;
    ctx->route_pos = 0;
    ctx->attempt = 0;
    SkipDisallowedChannels(ctx);  // a fallback event for each channel skipped
    TrySend(ctx);
  });
}

void Worker::Park(RequestContext* ctx, milliseconds delay) {
  if (draining_) {
    Abandon(ctx);
    return;
  }
  ctx->partition->waiting.insert(ctx);
  ctx->parked_since = std::chrono::steady_clock::now();
  if (!ctx->timer) ctx->timer.emplace(loop_->io);
  ctx->timer->expires_after(delay);
  ctx->timer->async_wait([this, ctx](const boost::system::error_code&) {
    ctx->partition->waiting.erase(ctx);
    if (ctx->partition->revoked.load(std::memory_order_relaxed)) {
      // The next owner of the partition starts this request over.
      Abandon(ctx);
      return;
    }
    if (ctx->cascade_pos >= 0) {
      CascadeTimerFired(ctx);  // a cascade step that waits for the store
      return;
    }
    TrySend(ctx);
  });
}

void Worker::ReportFailures() {
  constexpr auto kInterval = std::chrono::seconds(10);
  const auto now = std::chrono::steady_clock::now();
  if (failure_tally_.empty() || now - failure_logged_at_ < kInterval) return;
  failure_logged_at_ = now;
  for (const auto& [provider, t] : failure_tally_) {
    spdlog::warn("provider {}: {} permanent failure(s) and {} invalid address(es) on worker {} "
                 "since the last report (last reason: {}); per-reason counts are in the events, "
                 "totals in omnigate_provider_responses_total",
                 provider, t.permanent, t.invalid_address, index_, t.last_reason);
  }
  failure_tally_.clear();
}

void Worker::Abandon(RequestContext* ctx) {
  metrics_.abandoned.Inc();
  Release(ctx, false);
}

void Worker::UpdateParkedStats() {
  std::int64_t count = 0;
  auto oldest = std::chrono::steady_clock::time_point::max();
  for (const auto* p : {&partitions_, &timer_partitions_}) {
    for (const auto& part : *p) {
      count += static_cast<std::int64_t>(part->waiting.size());
      for (const RequestContext* ctx : part->waiting) oldest = std::min(oldest, ctx->parked_since);
    }
  }
  parked_count_.store(count, std::memory_order_relaxed);
  oldest_parked_since_.store(
      count == 0 ? 0
                 : std::chrono::duration_cast<std::chrono::nanoseconds>(oldest.time_since_epoch())
                       .count(),
      std::memory_order_relaxed);
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
  FlushHistory(ctx);
}

void Worker::Emit(RequestContext* ctx, EventStatus status, bool final, std::string_view provider,
                  std::string_view provider_message_id, std::string_view reason, int segments) {
  ProduceEvent(ctx, BuildEvent(ctx, status, final, provider, provider_message_id, reason, segments),
               final);
}

std::string Worker::BuildEvent(RequestContext* ctx, EventStatus status, bool final,
                               std::string_view provider, std::string_view provider_message_id,
                               std::string_view reason, int segments) {
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
  std::string json;
  json.reserve(256);
  AppendEventJson(e, json);
  if (status_on_ && !ctx->request.id.empty()) {
    // A request's first event opens its history with what was asked.
    if (e.seq == 1) AppendHistorySummary(ctx->request, ctx->history);
    AppendHistoryEvent(e, ctx->history);
  }
  return json;
}

void Worker::ProduceEvent(RequestContext* ctx, std::string json, bool final) {
  auto* rec = new PendingRecord();
  rec->worker = this;
  rec->ctx = ctx;
  rec->topic = &config_->kafka.topics.events;
  rec->key = ctx->event_id;
  rec->value = std::move(json);
  rec->final = final;
  ++ctx->outstanding_records;
  ProduceRecord(rec);
}

std::optional<state::Op> Worker::TakeHistory(RequestContext* ctx) {
  if (ctx->history.empty()) return std::nullopt;
  // Appended, never replaced: a request fired from a timer, or redelivered,
  // adds to what its earlier run wrote (and receipts may add to it).
  state::Op op{.type = state::Op::Type::append,
               .family = state::Family::status,
               .key = HistoryKey(ctx->request.tenant, ctx->request.id),
               .value = std::move(ctx->history),
               .ttl = config_->state.status_retention,
               .keep = kHistoryItems,
               .want_result = false};
  ctx->history.clear();
  return op;
}

void Worker::FlushHistory(RequestContext* ctx) {
  auto op = TakeHistory(ctx);
  if (!op) return;
  auto ops = std::make_shared<std::vector<state::Op>>(1, std::move(*op));
  // Kafka's events are the record of truth: the final event does not wait
  // for the status store, and a failed write is counted, not retried.
  batched_store_->Execute(*ops, [this, ops](state::StoreStatus status) {
    if (status != state::StoreStatus::ok && !stopped_) metrics_.status_write_failures.Inc();
  });
}

namespace {


std::size_t HeadersSize(const PendingRecord& rec) {
  std::size_t n = 0;
  for (const auto& [k, v] : rec.headers) n += k.size() + v.size() + 8;
  return n;
}

}  // namespace

// A request can be larger than what the producer may write (a publisher's
// compressed 5 MB request passes the broker, its uncompressed copy does not
// pass message.max.bytes). Its DLQ copy keeps as much as fits, with the
// original size and SHA-256 in headers so the whole request can be found at
// its topic/partition/offset; the request ends either way.
void Worker::FitDlqRecord(PendingRecord* rec) {
  constexpr std::size_t kOverhead = 1024;  // record and batch framing, headers we add below
  const std::size_t limit = producer_.max_message_bytes();
  const std::size_t fixed = rec->key.size() + HeadersSize(*rec) + kOverhead + 256;
  const std::size_t budget = limit > fixed ? limit - fixed : 0;
  if (rec->value.size() <= budget) return;
  ShrinkDlqRecord(rec, budget);
}

void Worker::ShrinkDlqRecord(PendingRecord* rec, std::size_t keep) {
  const bool first_cut = std::none_of(rec->headers.begin(), rec->headers.end(),
                                      [](const auto& h) { return h.first == "omnigate.truncated"; });
  if (first_cut) {
    rec->headers.emplace_back("omnigate.original_size", std::to_string(rec->value.size()));
    rec->headers.emplace_back("omnigate.sha256", Sha256Hex(rec->value));
    rec->headers.emplace_back("omnigate.truncated", keep == 0 ? "reference" : "true");
    metrics_.dlq_truncated.Inc();
  } else {
    for (auto& [k, v] : rec->headers) {
      if (k == "omnigate.truncated") v = keep == 0 ? "reference" : "true";
    }
  }
  rec->reference_only = keep == 0;
  rec->value.resize(std::min(rec->value.size(), keep));
  spdlog::warn("dlq: the copy of {}[{}]@{} is cut to {} bytes to fit kafka message.max.bytes "
               "({}); the original is at that offset",
               rec->ctx->partition->topic, rec->ctx->partition->partition, rec->ctx->offset,
               rec->value.size(), producer_.max_message_bytes());
}

// A record Kafka will never take as it is. A DLQ copy shrinks to a reference
// (headers only); anything else (or a reference still refused) is dropped
// with an error, so that its request ends instead of pinning its partition.
bool Worker::HandleTooLarge(PendingRecord* rec) {
  if (rec->dlq && !rec->reference_only) {
    ShrinkDlqRecord(rec, 0);
    ProduceRecord(rec);
    return true;
  }
  metrics_.records_dropped.Inc();
  spdlog::error("kafka: a record for {} ({} bytes) is refused as too large even after cutting; "
                "dropped so that request {} can end. Check the topic's max.message.bytes",
                *rec->topic, rec->value.size() + rec->key.size(), rec->ctx->event_id);
  return false;
}

void Worker::LogRecordFailure(std::string_view topic, std::string_view error) {
  // One line per second per topic at most: a broker outage fails thousands
  // of records in seconds, and the count says as much as the lines.
  std::uint64_t suppressed = 0;
  if (!providers::ShouldLog("kafka-delivery", topic, std::chrono::seconds(1), &suppressed)) return;
  spdlog::warn("kafka: record for topic {} not acknowledged: {} (+{} more since the last report; "
               "they are re-produced)",
               topic, error, suppressed);
}

void Worker::ProduceRecord(PendingRecord* rec) {
  std::array<queue::RecordHeader, 12> hdrs;
  std::size_t n = 0;
  for (const auto& [k, v] : rec->headers) {
    if (n < hdrs.size()) hdrs[n++] = {k, v};
  }
  std::string error;
  queue::ProduceError kind = queue::ProduceError::none;
  if (!producer_.Produce(*rec->topic, rec->key, rec->value, std::span(hdrs.data(), n), rec,
                         &error, &kind)) {
    if (kind == queue::ProduceError::too_large) {
      if (!HandleTooLarge(rec)) Acknowledge(rec);
      return;
    }
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
    if (rec->failure == queue::ProduceError::too_large) {
      if (!HandleTooLarge(rec)) Acknowledge(rec);
      return;
    }
    produce_backlog_.push_back(rec);  // re-produced on the next tick
    return;
  }
  (rec->dlq ? metrics_.dlq_records : metrics_.events_produced).Inc();
  Acknowledge(rec);
}

void Worker::Acknowledge(PendingRecord* rec) {
  RequestContext* ctx = rec->ctx;
  if (rec->final) ctx->final_acked = true;
  --ctx->outstanding_records;
  delete rec;
  MaybeComplete(ctx);
}

void Worker::MaybeComplete(RequestContext* ctx) {
  if (ctx->released) {
    Release(ctx, false);  // frees it once nothing is on its way
    return;
  }
  if (ctx->final_acked && ctx->outstanding_records == 0) Release(ctx, true);
}

void Worker::Release(RequestContext* ctx, bool durable) {
  if (ctx->released) {
    if (ctx->outstanding_records == 0) {
      released_.erase(ctx);
      delete ctx;
    }
    return;
  }
  auto& part = *ctx->partition;
  if (!ctx->cap_reserved.empty()) ReleaseCaps(ctx);
  if (!ctx->timer_id.empty()) {
    fired_.erase(ctx);
    if (durable && !ctx->handed_to_timer) {
      EraseTimer(ctx->timer_id);  // its handling ended here
    } else if (!durable && !stopped_) {
      // Given up (shutdown): due again now, for whoever polls next, rather
      // than when the lease runs out.
      auto ops = std::make_shared<std::vector<state::Op>>(
          1, state::Op{.type = state::Op::Type::timer_set,
                       .family = state::Family::timer,
                       .key = ctx->timer_id,
                       .value = TimerPayload(*ctx),
                       .due_ms = EpochMs(std::chrono::system_clock::now())});
      store_->Execute(*ops, [ops](state::StoreStatus) {});
    }
  } else if (durable) {
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
  if (ctx->outstanding_records > 0) {
    // An event still on its way to Kafka (or a timer write to the store)
    // points at it: freed when the last one is answered, or at Stop.
    ctx->released = true;
    released_.insert(ctx);
    return;
  }
  delete ctx;
}

void Worker::CommitTick() {
  if (consumer_ != nullptr) {
    std::vector<queue::TopicPartition> offsets;
    // Every tenth tick commits unchanged partitions too: a commit Kafka
    // refused (a rebalance in progress) is not retried otherwise until the
    // partition moves again.
    const bool refresh = ++commit_ticks_ % 10 == 0;
    for (const auto& p : partitions_) {
      if (p->revoked.load(std::memory_order_relaxed)) continue;
      auto c = p->tracker.TakeCommitWithDone(config_->kafka.commit_metadata_max_bytes, refresh);
      if (c) offsets.push_back({p->topic, p->partition, c->offset, std::move(c->metadata)});
    }
    if (!offsets.empty()) consumer_->CommitAsync(offsets);
  }
  UpdateParkedStats();
  ReportFailures();
  ProbeStore();
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
