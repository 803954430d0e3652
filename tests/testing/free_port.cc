#include "tests/testing/free_port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <utility>

namespace proglog::testing {
namespace {

// The kernel's range for outgoing connections' local ports, Linux's default
// when the file cannot be read.
std::pair<int, int> EphemeralRange() {
  std::pair<int, int> range{32768, 60999};
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  int high = 0;
  if (in >> low >> high && low > 0 && high >= low) range = {low, high};
  return range;
}

// Ports at or above 10000 (below that, well-known and registered services
// live) on whichever side of the ephemeral range is wider.
std::pair<int, int> PickRange() {
  const auto [low, high] = EphemeralRange();
  constexpr int kFloor = 10000;
  constexpr int kCeiling = 65535;
  if (low - kFloor >= kCeiling - high) return {kFloor, low - 1};
  return {high + 1, kCeiling};
}

}  // namespace

LoopbackSocket::LoopbackSocket(int type, int port) : fd_(socket(AF_INET, type, 0)) {
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

LoopbackSocket::~LoopbackSocket() {
  if (fd_ >= 0) close(fd_);
}

int FreePort(PortUse use) {
  static std::mutex mu;
  static std::set<int> handed_out;
  static std::mt19937 random{std::random_device{}()};
  const auto [low, high] = PickRange();
  std::uniform_int_distribution<int> pick(low, high);
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int port = pick(random);
    if (handed_out.count(port) != 0) continue;
    if (!LoopbackSocket(SOCK_STREAM, port).IsBound()) continue;
    if (use == PortUse::kTcpAndUdp && !LoopbackSocket(SOCK_DGRAM, port).IsBound()) continue;
    handed_out.insert(port);
    return port;
  }
  std::fprintf(stderr, "FreePort: no free loopback port in %d-%d after 500 tries\n", low, high);
  std::abort();
}

}  // namespace proglog::testing
