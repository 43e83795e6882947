#include "providers/http/http1_response_reader.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "common/text.h"

namespace omnigate::http::detail {

namespace beast = boost::beast;

ResponseParser::ResponseParser(Response& out, std::size_t limit) : out_(out), limit_(limit) {
  eager(true);
  body_limit(boost::none);  // ours is enforced below, as too_large
  header_limit(64 * 1024);
}

void ResponseParser::on_response_impl(int code, string_view, int, error_code& ec) {
  // Beast takes any three digits; a status code is at least 100 (RFC 9110
  // §15), and curl, the other engine, refuses one below ("Unsupported
  // response code"). Found by tests/fuzz/http1_response_fuzz.cc ("050").
  if (code < 100) {
    ec = beast::http::error::bad_status;
    return;
  }
  out_.status = code;
  out_.headers.clear();
  out_.headers.reserve(12);  // one allocation for a typical API answer's headers
  out_.body.clear();
}

void ResponseParser::on_field_impl(beast::http::field, string_view name, string_view value,
                                   error_code&) {
  out_.headers.emplace_back(AsciiLowercase(name), std::string(value));
}

void ResponseParser::on_body_init_impl(const boost::optional<std::uint64_t>& length,
                                       error_code&) {
  if (length) out_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, limit_)));
}

std::size_t ResponseParser::Append(string_view body, error_code& ec) {
  if (out_.body.size() + body.size() > limit_) {
    out_.body.append(body.data(), limit_ - out_.body.size());
    too_large_ = true;
    ec = beast::http::error::body_limit;
    return 0;
  }
  out_.body.append(body.data(), body.size());
  return body.size();
}

void Http1ResponseReader::Begin(Response& out, std::size_t max_body_bytes) {
  out_ = &out;
  limit_ = max_body_bytes;
  pending_.clear();
  parser_.emplace(out, max_body_bytes);
}

Http1ResponseReader::Outcome Http1ResponseReader::Feed(std::string_view data) {
  std::string_view input = data;
  if (!pending_.empty()) {
    pending_.append(data);
    input = pending_;
  }
  std::size_t used = 0;
  while (used < input.size()) {
    boost::system::error_code ec;
    used += parser_->put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
    if (ec == beast::http::error::need_more) break;
    if (ec) {
      Outcome failed;
      if (parser_->too_large()) {
        failed.state = State::too_large;
      } else {
        failed.state = State::invalid;
        failed.error = ec.message();
      }
      Reset();
      return failed;
    }
    if (!parser_->is_done()) continue;
    const long status = out_->status;  // NOLINT(google-runtime-int): Response's type
    if (status >= 100 && status < 200 && status != 101) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      parser_.emplace(*out_, limit_);
      continue;
    }
    // Bytes past the answer were not asked for: the connection is not reused.
    Outcome done{State::complete, parser_->keep_alive() && used == input.size(), {}};
    Reset();
    return done;
  }
  if (input.data() == pending_.data()) {
    pending_.erase(0, used);
  } else {
    pending_.assign(input.substr(used));
  }
  return {};
}

bool Http1ResponseReader::EndOfStream() {
  if (!parser_ || parser_->is_done() || !parser_->is_header_done() || !parser_->need_eof()) {
    return false;
  }
  boost::system::error_code ignored;
  parser_->put_eof(ignored);
  if (!parser_->is_done()) return false;
  Reset();
  return true;
}

void Http1ResponseReader::Reset() {
  parser_.reset();
  pending_.clear();
}

}  // namespace omnigate::http::detail
