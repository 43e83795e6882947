// Fuzzes the HTTP/1.1 client's answer parsing (providers/http/
// http1_response_reader.h) on raw bytes, as a provider or anything between us
// and it could send them. Input: one byte picks how the answer is split into
// reads, one the body limit, the rest is the wire.
//
// The same bytes are parsed once in one read and once in the chosen pieces:
// how the network splits an answer must not change what is parsed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "providers/http/http1_response_reader.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using omnigate::http::Response;
using omnigate::http::detail::Http1ResponseReader;
using State = Http1ResponseReader::State;

struct Parsed {
  State state = State::need_more;
  bool keep_alive = false;
  bool ended_by_close = false;
  Response response;
};

Parsed Parse(std::string_view wire, std::size_t step, std::size_t limit) {
  Parsed p;
  Http1ResponseReader reader;
  reader.Begin(p.response, limit);
  for (std::size_t at = 0; at < wire.size(); at += step) {
    const Http1ResponseReader::Outcome o = reader.Feed(wire.substr(at, step));
    p.state = o.state;
    p.keep_alive = o.keep_alive;
    if (o.state == State::invalid) FUZZ_CHECK(!o.error.empty());
    if (o.state != State::need_more) {
      FUZZ_CHECK(!reader.reading());
      return p;
    }
  }
  if (reader.EndOfStream()) {
    p.state = State::complete;
    p.ended_by_close = true;
    FUZZ_CHECK(!reader.reading());
  }
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const std::size_t limit = std::size_t{data[1]} * 16;
  const std::string_view wire(reinterpret_cast<const char*>(data + 2), size - 2);

  const Parsed whole = Parse(wire, std::max<std::size_t>(wire.size(), 1), limit);
  const Parsed pieces = Parse(wire, step, limit);

  if ((whole.state == State::need_more) != (pieces.state == State::need_more)) {
    // Beast checks a header as far as it has it on a first call, but after a
    // call that needed more, only once the header's end has arrived: a bad
    // header cut short is refused in one read and still awaited in pieces.
    // Either way that connection ends in a failure, never in an answer.
    FUZZ_CHECK(whole.state == State::invalid || pieces.state == State::invalid);
    return 0;
  }
  FUZZ_CHECK(whole.state == pieces.state);
  FUZZ_CHECK(whole.ended_by_close == pieces.ended_by_close);
  // Bytes after the answer forbid reuse; split at the answer's end, the later
  // bytes arrive as "unasked" ones, which the client refuses on their own.
  if (whole.keep_alive) FUZZ_CHECK(pieces.keep_alive);
  if (whole.state == State::complete || whole.state == State::too_large) {
    FUZZ_CHECK(whole.response.status == pieces.response.status);
    FUZZ_CHECK(whole.response.headers == pieces.response.headers);
    FUZZ_CHECK(whole.response.body == pieces.response.body);
  }
  if (whole.state == State::complete) {
    const Response& r = whole.response;
    FUZZ_CHECK(r.status >= 100 && r.status <= 999);
    // Interim answers are skipped, never returned (101 ends HTTP/1.1 itself).
    FUZZ_CHECK(r.status >= 200 || r.status == 101);
    FUZZ_CHECK(r.body.size() <= limit);
    for (const auto& [name, value] : r.headers) {
      FUZZ_CHECK(!name.empty());
      FUZZ_CHECK(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    }
  }
  if (whole.state == State::too_large) FUZZ_CHECK(whole.response.body.size() == limit);
  return 0;
}
