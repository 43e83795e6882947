// Integration tests of the queue layer against librdkafka's mock cluster over
// loopback TCP, with kcat as an independent client.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "queue/embedded_broker.h"
#include "queue/kafka_consumer.h"
#include "queue/kafka_producer.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace omnigate::queue {
namespace {

using namespace std::chrono_literals;
using omnigate::testing::RunCommand;
using omnigate::testing::WaitFor;

class CountingListener : public DeliveryListener {
 public:
  void OnDelivery(bool ok, std::string_view /*error*/, ProduceError /*kind*/) override {
    (ok ? ok_ : failed_).fetch_add(1);
  }
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
};

class RecordingConsumerListener : public ConsumerListener {
 public:
  void OnAssigned(const std::vector<TopicPartition>& parts) override {
    assigned += static_cast<int>(parts.size());
  }
  std::vector<TopicPartition> OnRevoked(const std::vector<TopicPartition>& parts) override {
    revoked += static_cast<int>(parts.size());
    return to_commit_on_revoke;
  }
  void OnCommitted(const std::vector<TopicPartition>& offsets, bool ok) override {
    std::lock_guard lock(mu);
    if (ok) committed.insert(committed.end(), offsets.begin(), offsets.end());
  }
  int assigned = 0;
  int revoked = 0;
  std::vector<TopicPartition> to_commit_on_revoke;
  std::mutex mu;
  std::vector<TopicPartition> committed;
};

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = EmbeddedBroker::Start({.brokers = 1, .partitions = 4, .topics = {"in", "out"}});
    ASSERT_TRUE(b) << b.error();
    broker_ = std::move(b).value();
  }

  std::unique_ptr<KafkaConsumer> MakeConsumer(ConsumerListener* l, const std::string& group) {
    auto c = KafkaConsumer::Create({.brokers = broker_->bootstrap(),
                                    .group_id = group,
                                    .topics = {"in"},
                                    .properties = {{"session.timeout.ms", "6000"}}},
                                   l);
    EXPECT_TRUE(c) << c.error();
    return c ? std::move(c).value() : nullptr;
  }

  // Polls until `n` messages arrived or the deadline passes.
  std::vector<KafkaMessage> ConsumeN(KafkaConsumer& c, std::size_t n) {
    std::vector<KafkaMessage> got;
    WaitFor([&] {
      c.Poll(got, 1000, 50ms);
      return got.size() >= n;
    }, 30s, 1ms);
    return got;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(KafkaTest, ProducedRecordsAreAcknowledgedAndConsumedWithHeaders) {
  auto p = KafkaProducer::Create({.brokers = broker_->bootstrap()});
  ASSERT_TRUE(p) << p.error();
  CountingListener dl;
  const RecordHeader hdrs[] = {{"omnigate.reason", "id: required"}};
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*p)->Produce("in", "k" + std::to_string(i), "v" + std::to_string(i), hdrs, &dl));
  }
  ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() == 100; }));
  EXPECT_EQ(dl.failed_.load(), 0);

  RecordingConsumerListener cl;
  auto c = MakeConsumer(&cl, "g1");
  ASSERT_NE(c, nullptr);
  auto got = ConsumeN(*c, 100);
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(cl.assigned, 4);
  std::set<std::string> values;
  for (auto& m : got) {
    values.insert(std::string(m.payload()));
    EXPECT_EQ(m.topic(), "in");
  }
  EXPECT_EQ(values.size(), 100u);
}

// Every value kafka.compression accepts is one this librdkafka build can
// produce with (zstd and snappy are optional in librdkafka builds).
TEST_F(KafkaTest, EveryConfigurableCompressionCodecProduces) {
  for (const std::string codec : {"none", "gzip", "snappy", "lz4", "zstd"}) {
    auto p = KafkaProducer::Create({.brokers = broker_->bootstrap(), .compression = codec});
    ASSERT_TRUE(p) << codec << ": " << p.error();
    CountingListener dl;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE((*p)->Produce("in", "k", std::string(200, 'x'), {}, &dl)) << codec;
    }
    ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() + dl.failed_.load() == 10; })) << codec;
    EXPECT_EQ(dl.failed_.load(), 0) << codec;
  }
}

TEST_F(KafkaTest, CommittedOffsetsAreWhereTheNextMemberResumes) {
  auto p = KafkaProducer::Create({.brokers = broker_->bootstrap()});
  ASSERT_TRUE(p) << p.error();
  CountingListener dl;
  for (int i = 0; i < 40; ++i) {
    // One partition keeps the arithmetic simple.
    ASSERT_TRUE((*p)->Produce("in", "same-key", std::to_string(i), {}, &dl));
  }
  ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() == 40; }));

  int32_t partition = -1;
  {
    RecordingConsumerListener cl;
    auto c = MakeConsumer(&cl, "g2");
    auto got = ConsumeN(*c, 40);
    ASSERT_EQ(got.size(), 40u);
    partition = got[0].partition();
    // Pretend the first 25 are durable: commit offset 25 asynchronously and
    // see the result come back through Poll.
    c->CommitAsync({{"in", partition, got[25].offset()}});
    ASSERT_TRUE(WaitFor([&] {
      std::vector<KafkaMessage> none;
      c->Poll(none, 1, 10ms);
      std::lock_guard lock(cl.mu);
      return !cl.committed.empty();
    }));
    EXPECT_EQ(cl.committed[0].offset, got[25].offset());
    c->Close();
  }
  RecordingConsumerListener cl2;
  auto c2 = MakeConsumer(&cl2, "g2");
  auto again = ConsumeN(*c2, 15);
  ASSERT_EQ(again.size(), 15u);
  EXPECT_EQ(again.front().payload(), "25");
  EXPECT_EQ(again.back().payload(), "39");
}

TEST_F(KafkaTest, RevokeCommitsWhatTheListenerSaysIsSafe) {
  auto p = KafkaProducer::Create({.brokers = broker_->bootstrap()});
  ASSERT_TRUE(p);
  CountingListener dl;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*p)->Produce("in", "k", std::to_string(i), {}, &dl));
  ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() == 10; }));
  RecordingConsumerListener cl;
  auto c = MakeConsumer(&cl, "g3");
  auto got = ConsumeN(*c, 10);
  ASSERT_EQ(got.size(), 10u);
  cl.to_commit_on_revoke = {{"in", got[0].partition(), got[4].offset()}};
  c->Close();
  EXPECT_EQ(cl.revoked, 4);

  RecordingConsumerListener cl2;
  auto c2 = MakeConsumer(&cl2, "g3");
  auto again = ConsumeN(*c2, 6);
  ASSERT_EQ(again.size(), 6u);
  EXPECT_EQ(again.front().payload(), "4");
}

TEST_F(KafkaTest, PauseAndSeekRewindsSoRecordsDroppedByTheAppComeAgain) {
  auto p = KafkaProducer::Create({.brokers = broker_->bootstrap()});
  ASSERT_TRUE(p);
  CountingListener dl;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*p)->Produce("in", "k", std::to_string(i), {}, &dl));
  ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() == 10; }));
  RecordingConsumerListener cl;
  auto c = MakeConsumer(&cl, "g5");
  auto got = ConsumeN(*c, 10);
  ASSERT_EQ(got.size(), 10u);
  const TopicPartition at3{"in", got[0].partition(), got[3].offset()};
  c->Pause({at3});
  c->Seek({at3});
  c->Resume({at3});
  auto again = ConsumeN(*c, 7);
  ASSERT_EQ(again.size(), 7u);
  EXPECT_EQ(again.front().payload(), "3");
  EXPECT_EQ(again.back().payload(), "9");
}

TEST_F(KafkaTest, ExternalClientKcatPublishesToTheEmbeddedBroker) {
  std::string out;
  const int rc = RunCommand({"sh", "-c",
                             "printf 'a\\nb\\nc\\n' | kcat -P -b " + broker_->bootstrap() +
                                 " -t in -p 0 && echo published"},
                            &out, 30'000);
  ASSERT_EQ(rc, 0) << out;
  RecordingConsumerListener cl;
  auto c = MakeConsumer(&cl, "g4");
  auto got = ConsumeN(*c, 3);
  ASSERT_EQ(got.size(), 3u);
  std::set<std::string> values;
  for (auto& m : got) values.insert(std::string(m.payload()));
  EXPECT_EQ(values, (std::set<std::string>{"a", "b", "c"}));
}

// librdkafka's statistics, as the gateway reads them, from a live consumer
// and producer: every assigned partition with its high watermark and lag,
// and the broker up with a round trip measured.
TEST_F(KafkaTest, StatisticsReportLagPerPartitionAndTheBrokers) {
  std::mutex mu;
  KafkaStats consumer_stats;
  KafkaStats producer_stats;
  auto sink = [&](const KafkaStats& s) {
    std::lock_guard lock(mu);
    (s.type == "consumer" ? consumer_stats : producer_stats) = s;
  };
  auto p = KafkaProducer::Create(
      {.brokers = broker_->bootstrap(), .statistics = {.interval = 100ms, .sink = sink}});
  ASSERT_TRUE(p) << p.error();
  CountingListener dl;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*p)->Produce("in", "k" + std::to_string(i), "v", {}, &dl));
  }
  ASSERT_TRUE(WaitFor([&] { return dl.ok_.load() == 100; }));

  RecordingConsumerListener cl;
  auto c = KafkaConsumer::Create({.brokers = broker_->bootstrap(),
                                  .group_id = "stats",
                                  .topics = {"in"},
                                  .statistics = {.interval = 100ms, .sink = sink}},
                                 &cl);
  ASSERT_TRUE(c) << c.error();
  std::vector<KafkaMessage> got;
  // Every record consumed, and a document taken after that says so.
  const bool settled = WaitFor([&] {
    (*c)->Poll(got, 1000, 20ms);
    std::lock_guard lock(mu);
    if (got.size() < 100 || consumer_stats.partitions.size() != 4) return false;
    std::int64_t high = 0;
    for (const auto& part : consumer_stats.partitions) {
      if (part.lag != 0) return false;
      high += part.high_watermark;
    }
    return high == 100;
  }, 30s, 1ms);
  std::lock_guard lock(mu);
  ASSERT_TRUE(settled) << got.size() << " consumed, " << consumer_stats.partitions.size()
                       << " partitions reported";
  for (const auto& part : consumer_stats.partitions) EXPECT_EQ(part.topic, "in");
  ASSERT_FALSE(consumer_stats.brokers.empty());
  EXPECT_TRUE(consumer_stats.brokers[0].up);
  EXPECT_EQ(producer_stats.type, "producer");
  ASSERT_FALSE(producer_stats.brokers.empty());
  EXPECT_TRUE(producer_stats.brokers[0].up);
  EXPECT_GE(producer_stats.brokers[0].node_id, 0);
}

TEST(EmbeddedBroker, RejectsNonsenseSizes) {
  auto b = EmbeddedBroker::Start({.brokers = 0, .partitions = 1, .topics = {}});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("brokers"), std::string::npos);
}

TEST(KafkaProducer, BadPropertyIsReportedByName) {
  auto p = KafkaProducer::Create({.brokers = "127.0.0.1:1", .properties = {{"linger.ms", "abc"}}});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().find("linger.ms"), std::string::npos) << p.error();
}

}  // namespace
}  // namespace omnigate::queue
