#include "tests/testing/free_port.h"

#include <sys/socket.h>

#include <fstream>
#include <set>

#include "gtest/gtest.h"

namespace proglog::testing {
namespace {

TEST(FreePortTest, PortsAreOutsideTheEphemeralRange) {
  int low = 0;
  int high = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  ASSERT_GT(high, 0) << "cannot read the ephemeral range";
  for (int i = 0; i < 50; ++i) {
    const int port = FreePort();
    EXPECT_TRUE(port < low || port > high) << port << " is in " << low << "-" << high;
    EXPECT_GE(port, 10000);
    EXPECT_LE(port, 65535);
  }
}

TEST(FreePortTest, NoPortIsHandedOutTwice) {
  std::set<int> seen;
  for (int i = 0; i < 300; ++i) {
    EXPECT_TRUE(seen.insert(FreePort(PortUse::kTcp)).second) << "repeated";
  }
}

TEST(FreePortTest, AGossipPortBindsForBothTcpAndUdp) {
  // Both at once, as a gossip node holds them.
  const int port = FreePort(PortUse::kTcpAndUdp);
  const LoopbackSocket tcp(SOCK_STREAM, port);
  const LoopbackSocket udp(SOCK_DGRAM, port);
  EXPECT_TRUE(tcp.IsBound());
  EXPECT_TRUE(udp.IsBound());
}

}  // namespace
}  // namespace proglog::testing
