#include "providers/http/address_policy.h"

#include <algorithm>
#include <charconv>

namespace omnigate::http {

namespace asio = boost::asio;

namespace {

using Bytes16 = std::array<std::uint8_t, 16>;

struct V4Net {
  std::uint32_t network;
  unsigned prefix;
};

constexpr std::uint32_t V4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// IANA's special-purpose registry, the entries that are not globally
// reachable destinations, plus multicast and the reserved class E.
constexpr V4Net kV4NotPublic[] = {
    {V4(0, 0, 0, 0), 8},         // "this network"; 0.0.0.0 reaches the local host on Linux
    {V4(10, 0, 0, 0), 8},        // private
    {V4(100, 64, 0, 0), 10},     // shared address space (CGNAT)
    {V4(127, 0, 0, 0), 8},       // loopback
    {V4(169, 254, 0, 0), 16},    // link-local, where cloud metadata services live
    {V4(172, 16, 0, 0), 12},     // private
    {V4(192, 0, 0, 0), 24},      // IETF protocol assignments
    {V4(192, 0, 2, 0), 24},      // documentation
    {V4(192, 168, 0, 0), 16},    // private
    {V4(198, 18, 0, 0), 15},     // benchmarking
    {V4(198, 51, 100, 0), 24},   // documentation
    {V4(203, 0, 113, 0), 24},    // documentation
    {V4(224, 0, 0, 0), 4},       // multicast
    {V4(240, 0, 0, 0), 4},       // reserved, and 255.255.255.255 broadcast
};

bool InV4(std::uint32_t a, const V4Net& net) {
  const std::uint32_t mask = net.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - net.prefix);
  return (a & mask) == net.network;
}

bool IsPublicV4(std::uint32_t a) {
  return std::none_of(std::begin(kV4NotPublic), std::end(kV4NotPublic),
                      [a](const V4Net& net) { return InV4(a, net); });
}

std::uint32_t V4At(const Bytes16& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

bool StartsWith(const Bytes16& b, std::initializer_list<std::uint8_t> prefix) {
  return std::equal(prefix.begin(), prefix.end(), b.begin());
}

bool AllZero(const Bytes16& b, std::size_t from, std::size_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from),
                     b.begin() + static_cast<std::ptrdiff_t>(to), [](std::uint8_t x) { return x == 0; });
}

bool IsPublicV6(const Bytes16& b) {
  // ::ffff:a.b.c.d reaches a.b.c.d over a dual-stack socket.
  if (AllZero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) return IsPublicV4(V4At(b, 12));
  // ::/96: the unspecified address, ::1 and the deprecated v4-compatible
  // addresses (RFC 4291 §2.5.5.1), which no public service uses and some
  // stacks still route as IPv4.
  if (AllZero(b, 0, 12)) return false;
  // NAT64 (RFC 6052): the gateway translates to the embedded IPv4 address.
  if (StartsWith(b, {0x00, 0x64, 0xff, 0x9b}) && AllZero(b, 4, 12)) return IsPublicV4(V4At(b, 12));
  // Local-use NAT64 (RFC 8215): an operator's own translator, internal by definition.
  if (StartsWith(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01})) return false;
  // 6to4 (RFC 3056): 2002:a.b.c.d::/48 is relayed to a.b.c.d.
  if (StartsWith(b, {0x20, 0x02})) return IsPublicV4(V4At(b, 2));
  if (StartsWith(b, {0x20, 0x01, 0x0d, 0xb8})) return false;  // documentation
  if (StartsWith(b, {0x01, 0x00}) && AllZero(b, 2, 8)) return false;  // discard-only 100::/64
  if ((b[0] & 0xfe) == 0xfc) return false;                    // unique local fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;    // link-local fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;    // site-local fec0::/10 (deprecated)
  if (b[0] == 0xff) return false;                             // multicast
  return true;
}

Bytes16 Normalized(const asio::ip::address& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  Bytes16 out{};
  out[10] = 0xff;
  out[11] = 0xff;
  const auto v4 = a.to_v4().to_bytes();
  std::copy(v4.begin(), v4.end(), out.begin() + 12);
  return out;
}

}  // namespace

bool IsPublicAddress(const asio::ip::address& a) {
  if (a.is_v4()) return IsPublicV4(a.to_v4().to_uint());
  return IsPublicV6(a.to_v6().to_bytes());
}

std::optional<Cidr> Cidr::Parse(std::string_view text, std::string* error) {
  const auto fail = [&](std::string message) -> std::optional<Cidr> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  const std::size_t slash = text.find('/');
  const std::string address_text(text.substr(0, slash));
  boost::system::error_code ec;
  // make_address takes only the canonical dotted quad for IPv4, so an
  // allow-list entry cannot be written in the ambiguous octal or short forms.
  const asio::ip::address address = asio::ip::make_address(address_text, ec);
  if (ec) {
    return fail("'" + std::string(text) +
                "' is not an IP network; expected address/prefix like 127.0.0.0/8 or ::1/128");
  }
  Cidr c;
  c.v4_ = address.is_v4();
  const unsigned width = c.v4_ ? 32 : 128;
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, perr] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || perr != std::errc() || end != digits.data() + digits.size() ||
        prefix > width) {
      return fail("'" + std::string(text) + "': prefix length must be 0-" + std::to_string(width));
    }
  }
  c.bytes_ = Normalized(address);
  c.prefix_ = c.v4_ ? 96 + prefix : prefix;
  // Host bits set ("10.1.2.3/8") are cleared rather than refused: the
  // operator's intent, the network, is clear.
  for (unsigned bit = c.prefix_; bit < 128; ++bit) {
    c.bytes_[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return c;
}

bool Cidr::Contains(const asio::ip::address& a) const {
  const Bytes16 b = Normalized(a);
  const unsigned full = prefix_ / 8;
  if (!std::equal(b.begin(), b.begin() + full, bytes_.begin())) return false;
  const unsigned rest = prefix_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (b[full] & mask) == bytes_[full];
}

std::string Cidr::ToString() const {
  if (v4_) {
    asio::ip::address_v4::bytes_type v4{};
    std::copy(bytes_.begin() + 12, bytes_.end(), v4.begin());
    return asio::ip::address_v4(v4).to_string() + "/" + std::to_string(prefix_ - 96);
  }
  return asio::ip::address_v6(bytes_).to_string() + "/" + std::to_string(prefix_);
}

bool DestinationAllowed(const asio::ip::address& a, const std::vector<Cidr>& allowlist) {
  return IsPublicAddress(a) || std::any_of(allowlist.begin(), allowlist.end(),
                                           [&](const Cidr& c) { return c.Contains(a); });
}

}  // namespace omnigate::http
