#pragma once
// Which addresses a request whose URL came from outside (a web push endpoint,
// a generic provider's URL built from request fields) may connect to. Pure
// functions: the transports ask them about each resolved address right before
// connecting, so that a name resolving to an internal address, however the
// URL spelled it (decimal, hex, octal, short IPv4, IPv6 brackets), is caught.

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace omnigate::http {

// Whether `a` is an address of the public internet: not loopback, private,
// link-local, shared (CGNAT), multicast, reserved, documentation or
// benchmarking space, in IPv4 or IPv6, including IPv6 forms that embed an
// IPv4 address (mapped, NAT64, 6to4, the deprecated v4-compatible ones).
bool IsPublicAddress(const boost::asio::ip::address& a);

// An IPv4 or IPv6 network ("10.0.0.0/8", "::1/128", a bare address means the
// one address). IPv4 networks also match the IPv4-mapped IPv6 form of their
// addresses, which is how a dual-stack socket may report them.
class Cidr {
 public:
  // nullopt for anything that is not address[/prefix] with a prefix within
  // the family's width; `error` then says why, for the config loader.
  static std::optional<Cidr> Parse(std::string_view text, std::string* error = nullptr);

  bool Contains(const boost::asio::ip::address& a) const;
  std::string ToString() const;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 as ::ffff:a.b.c.d
  unsigned prefix_ = 0;                   // over the 128 bits of bytes_
  bool v4_ = false;
};

// The rule for requests with untrusted destinations: a public address, or one
// inside a network the operator allow-listed (a loopback mock in tests and the
// demo, an internal push relay).
bool DestinationAllowed(const boost::asio::ip::address& a, const std::vector<Cidr>& allowlist);

}  // namespace omnigate::http
