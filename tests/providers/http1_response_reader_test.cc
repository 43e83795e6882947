#include "providers/http/http1_response_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace omnigate::http::detail {
namespace {

using State = Http1ResponseReader::State;

struct Read {
  Http1ResponseReader::Outcome outcome;
  Response response;
};

// Feeds `wire` in pieces of `step` bytes, as reads from a socket would.
Read FeedInPieces(std::string_view wire, std::size_t step, std::size_t limit = 1 << 20) {
  Read r;
  Http1ResponseReader reader;
  reader.Begin(r.response, limit);
  for (std::size_t at = 0; at < wire.size(); at += step) {
    r.outcome = reader.Feed(wire.substr(at, step));
    if (r.outcome.state != State::need_more) break;
  }
  return r;
}

TEST(Http1ResponseReader, ContentLengthAnswerInOneReadKeepsTheConnection) {
  const Read r = FeedInPieces(
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
      "{\"sid\":\"1\"}",
      1 << 16);
  ASSERT_EQ(r.outcome.state, State::complete);
  EXPECT_TRUE(r.outcome.keep_alive);
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(r.response.body, "{\"sid\":\"1\"}");
  ASSERT_NE(r.response.header("content-type"), nullptr);
  EXPECT_EQ(r.response.headers[0].first, "content-type");  // names lower-cased
}

TEST(Http1ResponseReader, ChunkedAnswerSplitAcrossEveryByte) {
  const Read r = FeedInPieces(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
      1);
  ASSERT_EQ(r.outcome.state, State::complete);
  EXPECT_TRUE(r.outcome.keep_alive);
  EXPECT_EQ(r.response.body, "hello world");
}

TEST(Http1ResponseReader, InterimAnswersAreSkipped) {
  const Read r = FeedInPieces(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
      7);
  ASSERT_EQ(r.outcome.state, State::complete);
  EXPECT_EQ(r.response.status, 202);
  EXPECT_EQ(r.response.body, "ok");
  EXPECT_EQ(r.response.header("link"), nullptr);  // the interim answer's headers are gone
}

TEST(Http1ResponseReader, BodyUntilCloseEndsAtEndOfStream) {
  Response response;
  Http1ResponseReader reader;
  reader.Begin(response, 1 << 20);
  EXPECT_EQ(reader.Feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ").state,
            State::need_more);
  EXPECT_EQ(reader.Feed("part two").state, State::need_more);
  ASSERT_TRUE(reader.EndOfStream());
  EXPECT_FALSE(reader.reading());
  EXPECT_EQ(response.body, "part one, part two");
}

TEST(Http1ResponseReader, EndOfStreamInsideAContentLengthBodyIsNotAnAnswer) {
  Response response;
  Http1ResponseReader reader;
  reader.Begin(response, 1 << 20);
  EXPECT_EQ(reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").state,
            State::need_more);
  EXPECT_FALSE(reader.EndOfStream());
}

TEST(Http1ResponseReader, CloseOrBytesPastTheAnswerEndKeepAlive) {
  EXPECT_FALSE(
      FeedInPieces("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 64)
          .outcome.keep_alive);
  const Read extra =
      FeedInPieces("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n", 1 << 16);
  ASSERT_EQ(extra.outcome.state, State::complete);
  EXPECT_FALSE(extra.outcome.keep_alive);
}

TEST(Http1ResponseReader, BodyOverTheLimitIsTooLargeAndKeepsTheLimit) {
  const Read r = FeedInPieces("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 3, 4);
  EXPECT_EQ(r.outcome.state, State::too_large);
  EXPECT_EQ(r.response.body, "0123");
}

TEST(Http1ResponseReader, GarbageIsInvalidWithTheParsersReason) {
  const Read r = FeedInPieces("SMTP/2.0 hello\r\n\r\n", 1 << 16);
  EXPECT_EQ(r.outcome.state, State::invalid);
  EXPECT_FALSE(r.outcome.error.empty());
}

TEST(Http1ResponseReader, StatusBelow100IsInvalidAsCurlHasIt) {
  const Read r = FeedInPieces("HTTP/1.1 050 Odd\r\nContent-Length: 2\r\n\r\nok", 5);
  EXPECT_EQ(r.outcome.state, State::invalid);
  EXPECT_EQ(FeedInPieces("HTTP/1.1 000 x\r\n\r\n", 64).outcome.state, State::invalid);
}

}  // namespace
}  // namespace omnigate::http::detail
