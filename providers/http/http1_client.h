#pragma once

#include <memory>

#include "providers/http/transport.h"

namespace omnigate::http::detail {

// HTTP/1.1 with keep-alive straight on Asio sockets (plain TCP or OpenSSL via
// asio::ssl), responses parsed by Boost.Beast's parser. The Transport sends
// through it what would be HTTP/1.1 anyway (TransportOptions::engine): per
// request it costs a third of libcurl's CPU, because it makes the two system
// calls a request needs (one write, one read) and keeps no per-transfer state
// beyond the request itself (bench/README.md, "Tuning log").
//
// Per origin (scheme, host, port) it keeps idle connections (most recently
// used first) and a queue of requests waiting for a connection when the
// per-host or total limit is reached. A reused connection that dies before
// any byte of an answer is retried once on a new one only if no byte of the
// request was written or the request is a GET: a POST the server may have
// read is never sent twice behind the caller's back. Timeouts (connect and total, the latter counted from
// Send) run off one timer armed for the earliest deadline.
class Http1Client {
 public:
  Http1Client(boost::asio::io_context& io, const TransportOptions& options);
  ~Http1Client();
  Http1Client(const Http1Client&) = delete;
  Http1Client& operator=(const Http1Client&) = delete;

  // Sends the request, with Transport::Send's contract, when its URL is one
  // this client speaks (http:// or https://, no user info, no spaces or
  // control characters) and returns true; otherwise returns false and leaves
  // both arguments as they were (the Transport hands them to curl).
  bool TrySend(Request& request, Transport::Callback& done);

  std::size_t in_flight() const;
  TransportStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnigate::http::detail
