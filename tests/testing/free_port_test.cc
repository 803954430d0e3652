#include "tests/testing/free_port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "gtest/gtest.h"

namespace proglog::testing {
namespace {

// Binds `port` on loopback for `type`; true when the bind succeeded.
bool Binds(int type, int port) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

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
  const int port = FreePort(PortUse::kTcpAndUdp);
  EXPECT_TRUE(Binds(SOCK_STREAM, port));
  EXPECT_TRUE(Binds(SOCK_DGRAM, port));
}

}  // namespace
}  // namespace proglog::testing
