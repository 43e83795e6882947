#include "queue/kafka_stats.h"

#include <gtest/gtest.h>

namespace omnigate::queue {
namespace {

// Trimmed from a librdkafka 2.x consumer document: a bootstrap entry, the
// logical coordinator entry, one real broker, the unassigned placeholder
// partition, a partition this member does not fetch, and two it does (one
// not committed yet).
constexpr std::string_view kConsumer = R"({
  "name": "omnigate#consumer-2", "type": "consumer", "msg_cnt": 0, "msg_size": 0,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "state": "UP"},
    "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": 1, "source": "logical", "state": "UP"},
    "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "state": "UP",
      "rtt": {"min": 90, "max": 4000, "avg": 300, "p50": 250, "p99": 3900, "cnt": 40}}
  },
  "topics": {
    "omnigate.requests": {"topic": "omnigate.requests", "partitions": {
      "0": {"partition": 0, "fetch_state": "active", "committed_offset": 90, "hi_offset": 120,
            "consumer_lag": 25},
      "1": {"partition": 1, "fetch_state": "none", "consumer_lag": -1},
      "2": {"partition": 2, "fetch_state": "active", "committed_offset": -1001, "hi_offset": 40,
            "app_offset": 31, "consumer_lag": -1},
      "-1": {"partition": -1, "fetch_state": "none", "consumer_lag": -1}
    }}
  }
})";

TEST(KafkaStats, ReadsTheFetchedPartitionsAndTheRealBrokers) {
  auto s = ParseKafkaStats(kConsumer);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->type, "consumer");
  ASSERT_EQ(s->partitions.size(), 2u);
  EXPECT_EQ(s->partitions[0].topic, "omnigate.requests");
  EXPECT_EQ(s->partitions[0].partition, 0);
  EXPECT_EQ(s->partitions[0].lag, 25);
  EXPECT_EQ(s->partitions[0].committed_offset, 90);
  EXPECT_EQ(s->partitions[0].high_watermark, 120);
  EXPECT_EQ(s->partitions[1].partition, 2);
  EXPECT_EQ(s->partitions[1].lag, 9) << "nothing committed yet: what is not read";
  ASSERT_EQ(s->brokers.size(), 1u) << "bootstrap and internal entries are not brokers";
  EXPECT_EQ(s->brokers[0].name, "127.0.0.1:9092/1");
  EXPECT_EQ(s->brokers[0].node_id, 1);
  EXPECT_TRUE(s->brokers[0].up);
  EXPECT_DOUBLE_EQ(s->brokers[0].rtt_p50_seconds, 0.00025);
  EXPECT_DOUBLE_EQ(s->brokers[0].rtt_p99_seconds, 0.0039);
}

TEST(KafkaStats, ReadsTheProducersQueueAndABrokerDown) {
  auto s = ParseKafkaStats(R"({"type": "producer", "msg_cnt": 812, "msg_size": 409600,
    "brokers": {"b/3": {"name": "b/3", "nodeid": 3, "state": "TRY_CONNECT"}},
    "topics": {"omnigate.events": {"partitions": {"0": {"partition": 0, "fetch_state": "none"}}}}})");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->queued_messages, 812);
  EXPECT_EQ(s->queued_bytes, 409600);
  ASSERT_EQ(s->brokers.size(), 1u);
  EXPECT_FALSE(s->brokers[0].up);
  EXPECT_EQ(s->brokers[0].rtt_p99_seconds, 0) << "no round trips measured";
  EXPECT_TRUE(s->partitions.empty()) << "a producer has no lag";
}

TEST(KafkaStats, RefusesWhatIsNotAStatisticsDocument) {
  auto bad = ParseKafkaStats("{\"brokers\": ");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("not JSON"), std::string::npos) << bad.error();
  auto untyped = ParseKafkaStats("{\"brokers\": {}}");
  ASSERT_FALSE(untyped);
  EXPECT_NE(untyped.error().find("\"type\""), std::string::npos) << untyped.error();
}

}  // namespace
}  // namespace omnigate::queue
