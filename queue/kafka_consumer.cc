#include "queue/kafka_consumer.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

#include "queue/rdkafka_handles.h"

namespace omnigate::queue {

using detail::PartitionListPtr;

namespace {

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    TopicPartition tp{e.topic, e.partition, e.offset};
    if (e.metadata != nullptr && e.metadata_size > 0) {
      tp.metadata.assign(static_cast<const char*>(e.metadata), e.metadata_size);
    }
    out.push_back(std::move(tp));
  }
  return out;
}

PartitionListPtr ToList(const std::vector<TopicPartition>& parts) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (const auto& p : parts) {
    auto* e = rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition);
    e->offset = p.offset;
    if (!p.metadata.empty()) {
      // Freed by librdkafka with the list (rd_free, i.e. free).
      e->metadata = std::malloc(p.metadata.size());
      if (e->metadata != nullptr) {
        std::memcpy(e->metadata, p.metadata.data(), p.metadata.size());
        e->metadata_size = p.metadata.size();
      }
    }
  }
  return list;
}

// The committed offsets (and their metadata) of `parts`, asked of the group
// coordinator. On failure the offsets stay -1001 and nothing is skipped.
std::vector<TopicPartition> FetchCommitted(rd_kafka_t* rk,
                                           const rd_kafka_topic_partition_list_t* parts) {
  PartitionListPtr copy(rd_kafka_topic_partition_list_copy(parts));
  const auto err = rd_kafka_committed(rk, copy.get(), 10'000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka: cannot read committed offsets on assignment ({}); requests done before "
                 "the rebalance may be repeated",
                 rd_kafka_err2str(err));
    auto out = ToVector(parts);
    for (auto& tp : out) tp.metadata.clear();
    return out;
  }
  return ToVector(copy.get());
}

}  // namespace

// Static trampolines with access to KafkaConsumer's internals.
struct ConsumerCallbacks {
  static int Statistics(rd_kafka_t* /*rk*/, char* json, std::size_t json_len, void* opaque) {
    DeliverKafkaStats(static_cast<KafkaConsumer*>(opaque)->stats_sink_,
                      std::string_view(json, json_len));
    return 0;  // librdkafka frees the document
  }
  static void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    self->rebalanced_ = true;
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      auto assigned = FetchCommitted(rk, parts);
      spdlog::info("kafka: assigned {} partition(s)", assigned.size());
      // librdkafka keeps a partition's pause flag on its client-side state,
      // which outlives a revoke: a partition paused for backpressure, revoked
      // and assigned back to this member would stay paused, while the
      // listener starts it fresh (unpaused) and never resumes it. So every
      // assignment starts unpaused, and the resume comes before the assign:
      // after it, librdkafka's main thread starts the fetchers when the
      // committed offsets arrive, and in 2.0.2 a pause/resume or fetch-start
      // op queued behind a newer one for the same partition is dropped as
      // outdated (rdkafka_partition.c), so a resume racing that start could
      // leave the partition paused, or never started, with no error. Before
      // the assign nothing else touches these partitions (a partition not
      // known yet is skipped).
      rd_kafka_resume_partitions(rk, parts);
      self->listener_->OnAssigned(assigned);
      if (cooperative) {
        if (auto* e = rd_kafka_incremental_assign(rk, parts)) {
          spdlog::error("kafka: incremental assign failed: {}", rd_kafka_error_string(e));
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, parts);
      }
      return;
    }
    // Revocation (or an error: treat as revocation so nothing is processed
    // for partitions we may no longer own).
    auto revoked = ToVector(parts);
    spdlog::info("kafka: revoking {} partition(s)", revoked.size());
    auto safe = self->listener_->OnRevoked(revoked);
    // Only commit while the assignment is still valid: after a lost
    // assignment the group generation is gone and the commit would fail.
    if (!safe.empty() && rd_kafka_assignment_lost(rk) == 0) {
      auto list = ToList(safe);
      const auto cerr = rd_kafka_commit(rk, list.get(), 0);
      if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        spdlog::warn("kafka: commit on revoke failed: {}", rd_kafka_err2str(cerr));
      } else {
        self->listener_->OnCommitted(safe, true);
      }
    }
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }

  static void Committed(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    std::vector<TopicPartition> done;
    bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (offsets != nullptr) {
      for (int i = 0; i < offsets->cnt; ++i) {
        const auto& e = offsets->elems[i];
        if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          ok = false;
          continue;
        }
        done.push_back({e.topic, e.partition, e.offset});
      }
    }
    if (!ok) spdlog::warn("kafka: offset commit failed: {}", rd_kafka_err2str(err));
    self->listener_->OnCommitted(done, ok);
  }
};

KafkaMessage::~KafkaMessage() {
  if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
}

KafkaMessage& KafkaMessage::operator=(KafkaMessage&& other) noexcept {
  if (this != &other) {
    if (msg_ != nullptr) rd_kafka_message_destroy(msg_);
    msg_ = std::exchange(other.msg_, nullptr);
  }
  return *this;
}

std::string_view KafkaMessage::payload() const {
  return msg_->payload == nullptr ? std::string_view{}
                                  : std::string_view(static_cast<const char*>(msg_->payload),
                                                     msg_->len);
}
std::string_view KafkaMessage::key() const {
  return msg_->key == nullptr
             ? std::string_view{}
             : std::string_view(static_cast<const char*>(msg_->key), msg_->key_len);
}
std::optional<std::string_view> KafkaMessage::header(std::string_view name) const {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg_, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const std::string key(name);
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, key.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return value == nullptr ? std::string_view{}
                          : std::string_view(static_cast<const char*>(value), size);
}

std::string_view KafkaMessage::topic() const { return rd_kafka_topic_name(msg_->rkt); }
std::int32_t KafkaMessage::partition() const { return msg_->partition; }
std::int64_t KafkaMessage::offset() const { return msg_->offset; }

Result<std::unique_ptr<KafkaConsumer>, std::string> KafkaConsumer::Create(
    const ConsumerOptions& options, ConsumerListener* listener) {
  std::map<std::string, std::string> defaults = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"client.id", options.client_id},
      // Offsets are ours to manage: commit only what is durable (DESIGN.md §8).
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "10"},
      {"queued.min.messages", "20000"},
  };
  if (options.statistics.enabled()) {
    defaults["statistics.interval.ms"] = std::to_string(options.statistics.interval.count());
  }
  auto conf = detail::MakeConf(defaults, options.properties);
  if (!conf) return MakeUnexpected(conf.error());
  std::unique_ptr<KafkaConsumer> self(new KafkaConsumer());
  self->listener_ = listener;
  if (options.statistics.enabled()) {
    self->stats_sink_ = options.statistics.sink;
    rd_kafka_conf_set_stats_cb(conf->get(), ConsumerCallbacks::Statistics);
  }
  rd_kafka_conf_set_rebalance_cb(conf->get(), ConsumerCallbacks::Rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), ConsumerCallbacks::Committed);
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  char err[512];
  self->rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err);
  if (self->rk_ == nullptr) return MakeUnexpected(std::string("kafka consumer: ") + err);
  conf->release();
  rd_kafka_poll_set_consumer(self->rk_);
  std::vector<TopicPartition> subs;
  for (const auto& t : options.topics) subs.push_back({t, RD_KAFKA_PARTITION_UA, 0});
  auto list = ToList(subs);
  if (const auto e = rd_kafka_subscribe(self->rk_, list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return MakeUnexpected(std::string("kafka subscribe: ") + rd_kafka_err2str(e));
  }
  return self;
}

KafkaConsumer::~KafkaConsumer() {
  Close();
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

std::size_t KafkaConsumer::Poll(std::vector<KafkaMessage>& out, std::size_t max,
                                std::chrono::milliseconds timeout) {
  std::size_t got = 0;
  int wait_ms = static_cast<int>(timeout.count());
  rebalanced_ = false;
  while (got < max && !rebalanced_) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait_ms);
    if (m == nullptr) break;
    wait_ms = 0;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char reason[512];
        rd_kafka_fatal_error(rk_, reason, sizeof reason);
        fatal_error_ = reason;
        spdlog::critical("kafka consumer fatal error: {}", reason);
      } else {
        spdlog::warn("kafka consumer: {}", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    out.emplace_back(m);
    ++got;
  }
  return got;
}

void KafkaConsumer::Pause(const std::vector<TopicPartition>& partitions) {
  auto list = ToList(partitions);
  rd_kafka_pause_partitions(rk_, list.get());
}

void KafkaConsumer::Seek(const std::vector<TopicPartition>& positions) {
  auto list = ToList(positions);
  if (auto* e = rd_kafka_seek_partitions(rk_, list.get(), 0)) {
    spdlog::error("kafka: seek failed: {}", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
}

bool KafkaConsumer::QueryEndOffsets(std::vector<TopicPartition>& partitions,
                                    std::chrono::milliseconds timeout) {
  for (auto& p : partitions) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(rk_, p.topic.c_str(), p.partition, &low, &high,
                                         static_cast<int>(timeout.count())) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    p.offset = high;
  }
  return true;
}

void KafkaConsumer::Resume(const std::vector<TopicPartition>& partitions) {
  auto list = ToList(partitions);
  rd_kafka_resume_partitions(rk_, list.get());
}

void KafkaConsumer::CommitAsync(const std::vector<TopicPartition>& offsets) {
  if (offsets.empty()) return;
  auto list = ToList(offsets);
  rd_kafka_commit(rk_, list.get(), 1);
}

bool KafkaConsumer::BrokerReachable(std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  // all_topics=0 with no topic: a metadata request for the brokers only.
  const auto err = rd_kafka_metadata(rk_, 0, nullptr, &md, static_cast<int>(timeout.count()));
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void KafkaConsumer::Close() {
  if (closed_ || rk_ == nullptr) return;
  closed_ = true;
  if (const auto e = rd_kafka_consumer_close(rk_); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka consumer close: {}", rd_kafka_err2str(e));
  }
}

}  // namespace omnigate::queue
