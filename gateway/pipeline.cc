#include "gateway/pipeline.h"

#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <thread>

#include "gateway/worker.h"
#include "gateway/state/embedded_store.h"
#include "common/clock.h"
#include "queue/embedded_broker.h"
#include "queue/kafka_producer.h"

namespace omnigate::gateway {

using std::chrono::milliseconds;

Pipeline::Pipeline(std::shared_ptr<const Config> config, GatewayMetrics& metrics)
    : config_(std::move(config)), metrics_(metrics) {}

Pipeline::~Pipeline() {
  consumer_.reset();
  // Stopped workers still exist while the producer flushes: late delivery
  // reports post to their (stopped) io_contexts instead of freed memory.
  for (auto& w : workers_) w->Stop();
  producer_.reset();
  workers_.clear();
  broker_.reset();
}

Result<std::unique_ptr<Pipeline>, std::string> Pipeline::Create(
    std::shared_ptr<const Config> config, GatewayMetrics& metrics) {
  std::unique_ptr<Pipeline> self(new Pipeline(config, metrics));
  const auto& k = config->kafka;
  self->bootstrap_ = k.brokers;
  if (k.brokers == "embedded") {
    auto broker = queue::EmbeddedBroker::Start(
        {.brokers = k.embedded.brokers,
         .partitions = k.embedded.partitions,
         .topics = {k.topics.requests, k.topics.requests_bulk, k.topics.events, k.topics.dlq}});
    if (!broker) return MakeUnexpected(broker.error());
    self->broker_ = std::move(broker).value();
    self->bootstrap_ = self->broker_->bootstrap();
    spdlog::info("embedded kafka listening on {} ({} partitions per topic)", self->bootstrap_,
                 k.embedded.partitions);
    if (!k.embedded.bootstrap_file.empty() &&
        !queue::WriteFileAtomically(k.embedded.bootstrap_file, self->bootstrap_ + "\n")) {
      return MakeUnexpected("kafka.embedded.bootstrap_file: cannot write '" +
                            k.embedded.bootstrap_file + "'");
    }
  }
  for (const auto& pc : config->providers) {
    auto m = std::make_unique<ProviderMetrics>();
    m->name = pc.name;
    m->channel = pc.channel;
    m->breaker = std::make_unique<providers::CircuitBreaker>(pc.circuit_breaker);
    metrics.providers.push_back(std::move(m));
  }
  // Lag, broker round trips and the producer's queue, into /metrics.
  const queue::KafkaStatsOptions statistics{
      .interval = k.statistics_interval,
      .sink = [&metrics](const queue::KafkaStats& s) { metrics.kafka.Update(s); }};
  auto producer =
      queue::KafkaProducer::Create({.brokers = self->bootstrap_,
                                    .client_id = "omnigate",
                                    .compression = k.compression,
                                    .properties = k.producer_properties,
                                    .statistics = statistics});
  if (!producer) return MakeUnexpected(producer.error());
  self->producer_ = std::move(producer).value();
  // Learn the output topics before the first request needs them; a missing
  // topic is not fatal here (it may be auto-created), only slower.
  for (const std::string* topic : {&k.topics.events, &k.topics.dlq}) {
    if (!self->producer_->WarmUp(*topic, milliseconds(5000))) {
      spdlog::warn("kafka: no metadata yet for topic {}; the first records will wait for it",
                   *topic);
    }
  }
  if (config->policy.enabled) {
    std::vector<std::string> tenants;
    for (const auto& [name, rules] : config->policy.tenants) tenants.push_back(name);
    metrics.policy.Init(tenants);
    if (config->state.backend == "embedded") {
      auto store = state::EmbeddedStore::Open(
          {.path = config->state.path, .sync_writes = config->state.sync_writes},
          SystemClock::Instance());
      if (!store) return MakeUnexpected("state.path: " + store.error());
      self->embedded_store_ = std::move(store).value();
      spdlog::info("state: embedded store at {}", config->state.path);
    } else {
      spdlog::info("state: redis at {}:{}, one connection per worker", config->state.redis.host,
                   config->state.redis.port);
    }
    self->state_health_ = std::make_unique<StateHealth>(
        config->state.backend, static_cast<std::size_t>(config->pipeline.workers));
  } else {
    spdlog::warn("policy.enabled is false: no deduplication, suppressions, consents or caps");
  }
  metrics.state_up.Set(1);
  for (int i = 0; i < config->pipeline.workers; ++i) {
    self->workers_.push_back(std::make_unique<Worker>(i, config, *self->producer_, metrics,
                                                      self->embedded_store_.get(),
                                                      self->state_health_.get()));
  }
  auto consumer = queue::KafkaConsumer::Create({.brokers = self->bootstrap_,
                                                .group_id = k.group_id,
                                                .client_id = "omnigate",
                                                .topics = {k.topics.requests, k.topics.requests_bulk},
                                                .properties = k.consumer_properties,
                                                .statistics = statistics},
                                               self.get());
  if (!consumer) return MakeUnexpected(consumer.error());
  self->consumer_ = std::move(consumer).value();
  for (auto& w : self->workers_) w->Start(self->consumer_.get());
  return self;
}

int Pipeline::Run(const std::atomic<bool>& stop) {
  std::vector<queue::KafkaMessage> batch;
  batch.reserve(4096);
  per_worker_.clear();
  per_worker_.resize(workers_.size());
  while (!stop.load(std::memory_order_relaxed)) {
    batch.clear();
    // Short polls while paused: resuming depends on commit acknowledgements
    // that arrive through Poll.
    consumer_->Poll(batch, 4096, milliseconds(all_paused_ ? 5 : 50));
    if (!consumer_->fatal_error().empty()) return 2;
    HandOver(batch);
    UpdateFlowControl();
  }
  Drain();
  consumer_->Close();  // revokes: final commits through OnRevoked
  return 0;
}

std::int64_t Pipeline::Busy() const {
  std::int64_t n = 0;
  for (const auto& [key, p] : partitions_) n += p->busy.load(std::memory_order_acquire);
  return n;
}

// A rolling deploy must not repeat sends: nothing new starts, what is on the
// wire gets until pipeline.drain_timeout, and what ended is committed (with
// the done offsets above the first unfinished one, so that the abandoned
// requests do not drag the finished ones behind them into a repeat).
void Pipeline::Drain() {
  stopping_.store(true);
  drain_deadline_ = std::chrono::steady_clock::now() + config_->pipeline.drain_timeout;
  std::vector<queue::TopicPartition> all;
  for (auto& [key, p] : partitions_) {
    p->backlog.clear();  // never handed over, never sent
    p->paused = true;
    all.push_back({p->topic, p->partition});
  }
  if (!all.empty()) consumer_->Pause(all);
  for (auto& w : workers_) w->StartDraining();
  spdlog::info("shutting down: {} request(s) in progress get up to {} ms to finish; nothing new "
               "starts",
               Busy(), config_->pipeline.drain_timeout.count());
  std::vector<queue::KafkaMessage> discard;
  while (Busy() > 0 && std::chrono::steady_clock::now() < drain_deadline_) {
    discard.clear();
    // Commit acknowledgements and rebalances arrive through Poll; records
    // (prefetched before the pause) are dropped unread: never tracked.
    consumer_->Poll(discard, 4096, milliseconds(20));
    UpdateFlowControl();
  }
  if (const auto left = Busy(); left > 0) {
    spdlog::warn("shutting down: {} provider request(s) still unanswered after "
                 "pipeline.drain_timeout; they are not committed and will be sent again by the "
                 "next owner of their partition",
                 left);
  }
}

bool Pipeline::Ready(std::string& why) {
  if (!ready()) {
    why = "waiting for kafka partition assignment";
    return false;
  }
  if (stopping_.load(std::memory_order_relaxed)) {
    why = "shutting down";
    return false;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - probed_at_ >= std::chrono::seconds(2)) {
    broker_reachable_ = consumer_->BrokerReachable(milliseconds(1000));
    probed_at_ = now;
  }
  if (!broker_reachable_) {
    why = "kafka brokers unreachable: no answer to a metadata request within 1 s";
    return false;
  }
  if (state_health_ && state_health_->down()) {
    const auto since = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(state_health_->down_since_ns()));
    why = fmt::format("state store ({}) unavailable for {} s: consumption is paused, nothing is "
                      "sent unchecked",
                      state_health_->backend(),
                      std::chrono::duration_cast<std::chrono::seconds>(now - since).count());
    return false;
  }
  return true;
}

state::StateStore* Pipeline::shared_store() const { return embedded_store_.get(); }

std::int64_t Pipeline::LaneLimit(Lane lane) const {
  const auto& pc = config_->pipeline;
  // The bulk lane never takes the last tenth of the budget: a transactional
  // request finds room at once instead of waiting for the next commit.
  return lane == Lane::bulk ? std::max<std::int64_t>(1, pc.max_in_flight * 9 / 10)
                            : pc.max_in_flight;
}

void Pipeline::HandOver(std::vector<queue::KafkaMessage>& batch) {
  const auto& pc = config_->pipeline;
  std::int64_t total = 0;
  for (const auto& [key, p] : partitions_) total += p->Uncommitted();
  auto fits = [&](const PartitionState& p) {
    return total < LaneLimit(p.lane) && p.Uncommitted() < pc.max_in_flight_per_partition;
  };
  auto take = [&](PartitionState& p, const std::shared_ptr<PartitionState>& owner,
                  queue::KafkaMessage msg) {
    if (p.first_consumed < 0) p.first_consumed = msg.offset();
    p.next_offset = msg.offset() + 1;
    ++total;
    per_worker_[p.worker_index].push_back({std::move(msg), owner});
  };
  // Held-back records first, transactional lane before bulk, each partition
  // in offset order.
  for (const Lane lane : {Lane::transactional, Lane::bulk}) {
    for (auto& [key, p] : partitions_) {
      if (p->lane != lane) continue;
      while (!p->backlog.empty() && fits(*p)) {
        queue::KafkaMessage msg = std::move(p->backlog.front());
        p->backlog.pop_front();
        take(*p, p, std::move(msg));
      }
    }
  }
  // Records arrive in runs of one partition: look the state up once per run.
  // A record is handed over only while its partition and its lane are under
  // their limits and nothing of that partition is held back; otherwise it is
  // held back and the partition paused, so the bound holds record by record
  // and order is kept.
  std::shared_ptr<PartitionState> last;
  for (auto& msg : batch) {
    if (!last || last->partition != msg.partition() || last->topic != msg.topic()) {
      auto it = partitions_.find({std::string(msg.topic()), msg.partition()});
      last = it == partitions_.end() ? nullptr : it->second;
    }
    if (!last) continue;  // not (or no longer) assigned
    if (!last->backlog.empty() || !fits(*last)) {
      last->backlog.push_back(std::move(msg));
      continue;
    }
    take(*last, last, std::move(msg));
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (per_worker_[i].empty()) continue;
    workers_[i]->Submit(std::move(per_worker_[i]));
    per_worker_[i] = std::vector<Incoming>();
  }
}

PartitionState* Pipeline::Find(std::string_view topic, std::int32_t partition) {
  auto it = partitions_.find({std::string(topic), partition});
  return it == partitions_.end() ? nullptr : it->second.get();
}

void Pipeline::UpdateFlowControl() {
  const auto& pc = config_->pipeline;
  std::int64_t total = 0;
  std::int64_t held = 0;
  for (const auto& [key, p] : partitions_) {
    total += p->Uncommitted();
    held += static_cast<std::int64_t>(p->backlog.size());
  }
  metrics_.in_flight.Set(total);
  metrics_.held_back.Set(held);
  std::int64_t parked = 0;
  std::int64_t oldest_ns = 0;
  for (const auto& w : workers_) {
    parked += w->parked();
    const std::int64_t since = w->oldest_parked_since_ns();
    if (since != 0 && (oldest_ns == 0 || since < oldest_ns)) oldest_ns = since;
  }
  metrics_.parked.Set(parked);
  metrics_.oldest_parked_seconds.Set(
      oldest_ns == 0 ? 0
                     : std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::steady_clock::now().time_since_epoch() -
                           std::chrono::nanoseconds(oldest_ns))
                           .count());
  if (stopping_.load(std::memory_order_relaxed)) return;
  // Partitions keep flowing into their backlogs while the in-flight limits
  // hold records back, and pause only when the backlogs are large: a paused
  // partition takes about half a second to deliver again after its resume
  // (librdkafka 2.0.2), so pausing at the in-flight limit itself would idle
  // the pipeline every cycle. Held-back records are never sent, so the
  // crash-repeat bound stays max_in_flight; memory is in-flight + held, at
  // most 1.5 × max_in_flight records plus the client's prefetch.
  const auto held_cap = std::max<std::int64_t>(1, pc.max_in_flight / 2);
  const auto partition_held_cap = std::max<std::int64_t>(1, pc.max_in_flight_per_partition / 2);
  std::vector<queue::TopicPartition> pause;
  std::vector<queue::TopicPartition> resume;
  // The state store down: every partition pauses (what is in flight waits
  // for its checks); they resume by the rules below once it answers.
  const bool store_down = state_health_ && state_health_->down();
  metrics_.state_up.Set(store_down ? 0 : 1);
  for (auto& [key, p] : partitions_) {
    if (store_down) {
      if (!p->paused) {
        p->paused = true;
        pause.push_back({p->topic, p->partition});
      }
      continue;
    }
    const auto mine = static_cast<std::int64_t>(p->backlog.size());
    const bool over = mine > 0 && (mine >= partition_held_cap || held >= held_cap);
    const bool under = mine <= partition_held_cap / 2 && held <= held_cap / 2;
    if (!p->paused && over) {
      p->paused = true;
      pause.push_back({p->topic, p->partition});
    } else if (p->paused && under) {
      p->paused = false;
      resume.push_back({p->topic, p->partition});
    }
  }
  if (!pause.empty()) consumer_->Pause(pause);
  if (!resume.empty()) consumer_->Resume(resume);
  std::int64_t paused = 0;
  for (const auto& [key, p] : partitions_) paused += p->paused ? 1 : 0;
  metrics_.partitions_paused.Set(paused);
  all_paused_ = !partitions_.empty() && paused == static_cast<std::int64_t>(partitions_.size());
}

void Pipeline::OnAssigned(const std::vector<queue::TopicPartition>& parts) {
  for (const auto& tp : parts) {
    auto state = std::make_shared<PartitionState>();
    state->topic = tp.topic;
    state->partition = tp.partition;
    state->lane = tp.topic == config_->kafka.topics.requests_bulk ? Lane::bulk : Lane::transactional;
    state->done_before = queue::DecodeDoneRanges(tp.metadata, tp.offset);
    if (!state->done_before.empty()) {
      std::int64_t n = 0;
      for (const auto& [first, last] : state->done_before) n += last - first;
      spdlog::info("{}[{}]: {} request(s) above committed offset {} ended before the "
                   "rebalance/restart; they will be skipped",
                   tp.topic, tp.partition, n, tp.offset);
    }
    // Spread partitions over workers round-robin; one partition is always
    // processed by one worker, so its tracker needs no lock.
    state->worker_index = next_worker_++ % workers_.size();
    state->worker = workers_[state->worker_index].get();
    state->worker->AddPartition(state);
    partitions_[{tp.topic, tp.partition}] = std::move(state);
  }
  metrics_.partitions_assigned.Set(static_cast<std::int64_t>(partitions_.size()));
  ready_.store(true, std::memory_order_relaxed);
}

std::vector<queue::TopicPartition> Pipeline::OnRevoked(
    const std::vector<queue::TopicPartition>& parts) {
  std::vector<std::shared_ptr<PartitionState>> revoked;
  for (const auto& tp : parts) {
    auto it = partitions_.find({tp.topic, tp.partition});
    if (it == partitions_.end()) continue;
    it->second->revoked.store(true);
    // Never handed over, so never sent: the next owner reads them again.
    it->second->backlog.clear();
    it->second->worker->RevokePartition(it->second);
    revoked.push_back(it->second);
    partitions_.erase(it);
  }
  // Let requests already on the wire finish (their final events make them
  // committable); give up on the rest at the deadline. On shutdown Drain()
  // has waited already, against its own deadline.
  const auto deadline = stopping_.load()
                            ? drain_deadline_
                            : std::chrono::steady_clock::now() + config_->pipeline.drain_timeout;
  auto busy = [&] {
    std::int64_t n = 0;
    for (const auto& p : revoked) n += p->busy.load(std::memory_order_acquire);
    return n;
  };
  while (busy() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  if (const auto left = busy(); left > 0 && !stopping_.load()) {
    spdlog::warn("rebalance: {} request(s) still in progress after pipeline.drain_timeout; "
                 "they will be redelivered to the partitions' next owner",
                 left);
  }
  // The commit with done ranges comes from each partition's worker.
  std::map<Worker*, std::vector<std::shared_ptr<PartitionState>>> by_worker;
  for (const auto& p : revoked) by_worker[p->worker].push_back(p);
  std::vector<queue::TopicPartition> safe;
  for (auto& [worker, owned] : by_worker) {
    auto future = worker->FinalCommits(owned);
    if (future.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
      for (auto& tp : future.get()) safe.push_back(std::move(tp));
      continue;
    }
    // A worker that does not answer in 5 s: the contiguous prefix is still safe.
    for (const auto& p : owned) {
      const std::int64_t o = p->committable.load(std::memory_order_acquire);
      if (o >= 0 && o > p->committed) safe.push_back({p->topic, p->partition, o});
    }
  }
  metrics_.partitions_assigned.Set(static_cast<std::int64_t>(partitions_.size()));
  return safe;
}

void Pipeline::OnCommitted(const std::vector<queue::TopicPartition>& offsets, bool ok) {
  if (!ok) metrics_.commit_failures.Inc();
  for (const auto& tp : offsets) {
    metrics_.commits.Inc();
    if (auto* p = Find(tp.topic, tp.partition)) p->committed = std::max(p->committed, tp.offset);
  }
}

}  // namespace omnigate::gateway
