#pragma once
// Private to omnigate_bench: what the mock provider's HTTP/1.1 and HTTP/2
// connections share.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstdint>

#include "bench/mock_provider.h"

namespace omnigate::bench::detail {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// splitmix64: a cheap, good-enough PRNG per connection.
inline std::uint64_t NextRandom(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Serves HTTP/2 (nghttp2 server session) on a TLS stream whose handshake
// chose h2 by ALPN, until the peer goes away. Each request goes through
// owner.Handle(), as on HTTP/1.1; its answer is delayed on a timer per
// stream, so delayed answers do not hold back the others on the connection.
// The connection owns itself (shared_ptr held by its pending operations)
// and runs on the stream's io_context.
void ServeH2(MockProvider& owner, TlsStream stream, std::uint64_t seed);

}  // namespace omnigate::bench::detail
