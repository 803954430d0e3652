#include "tests/testing/free_port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "gtest/gtest.h"

namespace proglog::testing {
namespace {

// A loopback socket of `type`, bound to `port` when that is free.
class BoundSocket {
 public:
  BoundSocket(int type, int port) : fd_(socket(AF_INET, type, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~BoundSocket() { close(fd_); }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
  bool IsBound() const { return bound_; }

 private:
  const int fd_;
  bool bound_ = false;
};

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
  const BoundSocket tcp(SOCK_STREAM, port);
  const BoundSocket udp(SOCK_DGRAM, port);
  EXPECT_TRUE(tcp.IsBound());
  EXPECT_TRUE(udp.IsBound());
}

}  // namespace
}  // namespace proglog::testing
