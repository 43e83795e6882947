#pragma once
// The answer side of the HTTP/1.1 client without a socket: bytes in, a filled
// Response and what may happen to the connection out. Http1Client feeds it
// what it reads; tests and the fuzz target feed it bytes directly.

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "providers/http/transport.h"

namespace omnigate::http::detail {

// Beast's parser for one answer: fills a Response in place, lower-casing
// header names and keeping at most `limit` bytes of body.
class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  ResponseParser(Response& out, std::size_t limit);
  bool too_large() const { return too_large_; }

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override;
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override { return Append(body, ec); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
    return Append(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  std::size_t Append(string_view body, error_code& ec);

  Response& out_;
  std::size_t limit_;
  bool too_large_ = false;
};

// Reads the answers on one connection, one exchange at a time: the parser of
// the answer being read, and the bytes read but not yet consumed (a header
// split across reads). Lives in its connection and runs on its io_context
// thread; Begin starts an answer, which ends in a terminal Outcome of Feed or
// in EndOfStream. Interim answers (100 Continue, 103 Early Hints) are skipped.
class Http1ResponseReader {
 public:
  enum class State : std::uint8_t {
    need_more,  // the answer is not complete: feed what arrives next
    complete,   // the answer is in the Response
    too_large,  // its body exceeded the limit
    invalid,    // the parser refused the bytes; `error` says why
  };
  struct Outcome {
    State state = State::need_more;
    // complete: the connection may carry another request (the server did not
    // ask to close it and sent nothing past this answer).
    bool keep_alive = false;
    std::string error;  // invalid: the parser's message
  };

  // Starts reading the answer to a new request into `out`, keeping at most
  // `max_body_bytes` of its body. `out` must outlive the answer.
  void Begin(Response& out, std::size_t max_body_bytes);

  // Parses bytes that arrived. After any state but need_more the reader is
  // idle until the next Begin.
  Outcome Feed(std::string_view data);

  // The server closed the connection. True when that completes the answer
  // (a body delimited by the end of the connection); the reader is then idle.
  bool EndOfStream();

  bool reading() const { return parser_.has_value(); }

 private:
  void Reset();

  std::optional<ResponseParser> parser_;
  std::string pending_;
  Response* out_ = nullptr;
  std::size_t limit_ = 0;
};

}  // namespace omnigate::http::detail
