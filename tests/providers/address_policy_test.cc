// The destination classifier alone: no connection is made to any address
// here, which is how non-loopback ranges are tested at all.
#include "providers/http/address_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnigate::http {
namespace {

boost::asio::ip::address A(const std::string& text) { return boost::asio::ip::make_address(text); }

bool Public(const std::string& text) { return IsPublicAddress(A(text)); }

struct Range {
  const char* first;
  const char* last;
  const char* before;  // the address just below the range (public), or nullptr
  const char* after;   // the address just above it (public), or nullptr
};

// Each refused IPv4 range: first and last address refused, the neighbours
// outside it (where they are public) accepted.
// Each range refused at its first and last address, and its neighbours
// (where given) accepted: the edges are where classifiers go wrong.
void ExpectRefusedToTheirEdges(const std::vector<Range>& ranges) {
  for (const Range& r : ranges) {
    EXPECT_FALSE(Public(r.first)) << r.first;
    EXPECT_FALSE(Public(r.last)) << r.last;
    if (r.before != nullptr) {
      EXPECT_TRUE(Public(r.before)) << r.before;
    }
    if (r.after != nullptr) {
      EXPECT_TRUE(Public(r.after)) << r.after;
    }
  }
}

TEST(AddressPolicy, EveryNonPublicIpv4RangeIsRefusedToItsEdges) {
  const std::vector<Range> ranges = {
      {"0.0.0.0", "0.255.255.255", nullptr, "1.0.0.0"},
      {"10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"},
      {"100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0"},
      {"127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0"},
      {"169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0"},
      {"172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"},
      {"192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0"},
      {"192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0"},
      {"192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0"},
      {"198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0"},
      {"198.51.100.0", "198.51.100.255", "198.51.99.255", "198.51.101.0"},
      {"203.0.113.0", "203.0.113.255", "203.0.112.255", "203.0.114.0"},
      {"224.0.0.0", "239.255.255.255", "223.255.255.255", nullptr},
      {"240.0.0.0", "255.255.255.254", nullptr, nullptr},
      {"255.255.255.255", "255.255.255.255", nullptr, nullptr},
  };
  ExpectRefusedToTheirEdges(ranges);
  EXPECT_FALSE(Public("169.254.169.254")) << "cloud metadata";
}

TEST(AddressPolicy, OrdinaryPublicAddressesAreAccepted) {
  for (const char* a : {"1.1.1.1", "8.8.8.8", "142.250.185.74", "2a00:1450:4001:82b::200a",
                        "2606:4700:4700::1111", "2001:4860:4860::8888"}) {
    EXPECT_TRUE(Public(a)) << a;
  }
}

TEST(AddressPolicy, NonPublicIpv6RangesAreRefusedToTheirEdges) {
  const std::vector<Range> ranges = {
      {"::", "::", nullptr, nullptr},
      {"::1", "::1", nullptr, nullptr},
      // v4-compatible ::/96 (deprecated): the whole block.
      {"::0.0.0.2", "::255.255.255.255", nullptr, nullptr},
      {"fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       nullptr},
      {"fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},
      {"ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},
      {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
       "2001:db9::"},
      {"100::", "100::ffff:ffff:ffff:ffff", nullptr, "100:0:0:1::"},
  };
  ExpectRefusedToTheirEdges(ranges);
  EXPECT_FALSE(Public("fec0::1")) << "site-local (deprecated)";
}

// IPv6 forms that carry an IPv4 address are judged by that address.
TEST(AddressPolicy, Ipv6FormsEmbeddingIpv4AreJudgedByTheEmbeddedAddress) {
  // Mapped ::ffff:0:0/96.
  EXPECT_FALSE(Public("::ffff:127.0.0.1"));
  EXPECT_FALSE(Public("::ffff:0.0.0.0"));
  EXPECT_FALSE(Public("::ffff:10.0.0.1"));
  EXPECT_FALSE(Public("::ffff:169.254.169.254"));
  EXPECT_FALSE(Public("::ffff:255.255.255.255"));
  EXPECT_TRUE(Public("::ffff:8.8.8.8"));
  // NAT64 64:ff9b::/96.
  EXPECT_FALSE(Public("64:ff9b::127.0.0.1"));
  EXPECT_FALSE(Public("64:ff9b::192.168.1.1"));
  EXPECT_FALSE(Public("64:ff9b::a9fe:a9fe"));
  EXPECT_TRUE(Public("64:ff9b::8.8.8.8"));
  EXPECT_FALSE(Public("64:ff9b:1::1")) << "local-use NAT64";
  // 6to4 2002::/16: the IPv4 address is bits 16-47.
  EXPECT_FALSE(Public("2002:7f00:1::"));
  EXPECT_FALSE(Public("2002:a00:1::1"));
  EXPECT_FALSE(Public("2002:c0a8:101::1"));
  EXPECT_FALSE(Public("2002:a9fe:a9fe::1"));
  EXPECT_FALSE(Public("2002::"));
  EXPECT_TRUE(Public("2002:808:808::1"));
}

TEST(AddressPolicy, CidrParsesBothFamiliesAndMatchesMappedIpv4) {
  const auto loop = Cidr::Parse("127.0.0.0/8");
  ASSERT_TRUE(loop.has_value());
  EXPECT_TRUE(loop->Contains(A("127.0.0.1")));
  EXPECT_TRUE(loop->Contains(A("127.255.255.255")));
  EXPECT_TRUE(loop->Contains(A("::ffff:127.0.0.2")));
  EXPECT_FALSE(loop->Contains(A("128.0.0.0")));
  EXPECT_FALSE(loop->Contains(A("::1")));
  EXPECT_EQ(loop->ToString(), "127.0.0.0/8");

  const auto odd = Cidr::Parse("172.16.5.9/13");  // host bits are cleared
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->ToString(), "172.16.0.0/13");
  EXPECT_TRUE(odd->Contains(A("172.23.255.255")));
  EXPECT_FALSE(odd->Contains(A("172.24.0.0")));

  const auto one = Cidr::Parse("::1");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->ToString(), "::1/128");
  EXPECT_TRUE(one->Contains(A("::1")));
  EXPECT_FALSE(one->Contains(A("::2")));
  EXPECT_FALSE(one->Contains(A("127.0.0.1")));

  const auto all = Cidr::Parse("0.0.0.0/0");
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(all->Contains(A("10.1.2.3")));
  EXPECT_FALSE(all->Contains(A("fd00::1"))) << "an IPv4 network never matches plain IPv6";
}

TEST(AddressPolicy, CidrRefusesWhatIsNotANetwork) {
  for (const char* bad : {"", "localhost", "127.1", "0177.0.0.1", "2130706433", "10.0.0.0/33",
                          "10.0.0.0/", "10.0.0.0/8x", "::1/129", "10.0.0.0/-1", "[::1]/128"}) {
    std::string error;
    EXPECT_FALSE(Cidr::Parse(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(AddressPolicy, AllowListAddsNetworksToThePublicOnes) {
  const std::vector<Cidr> allow = {*Cidr::Parse("127.0.0.0/8"), *Cidr::Parse("fd00::/8")};
  EXPECT_TRUE(DestinationAllowed(A("127.0.0.2"), allow));
  EXPECT_TRUE(DestinationAllowed(A("fd12::1"), allow));
  EXPECT_TRUE(DestinationAllowed(A("8.8.8.8"), allow));
  EXPECT_FALSE(DestinationAllowed(A("10.0.0.1"), allow));
  EXPECT_FALSE(DestinationAllowed(A("::1"), allow));
  EXPECT_FALSE(DestinationAllowed(A("127.0.0.1"), {}));
}

}  // namespace
}  // namespace omnigate::http
