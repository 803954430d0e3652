// Test support: loopback ports for processes that must be told theirs.
//
// A test that restarts a node on the same address, or passes one node's
// gossip address to another before either runs, cannot let the node bind
// port 0; it picks a port first and hands it over. Between the pick and the
// node's bind, anything may take the port. The commonest taker is an
// outgoing connection, whose local port the kernel draws from its ephemeral
// range (/proc/sys/net/ipv4/ip_local_port_range), and a test cluster opens
// many of them. So ports are drawn at random from outside that range, checked
// free, and never handed out twice by one process.
#ifndef PROGLOG_TESTS_TESTING_FREE_PORT_H_
#define PROGLOG_TESTS_TESTING_FREE_PORT_H_

namespace proglog::testing {

enum class PortUse {
  kTcp,        // an RPC or metrics listener
  kTcpAndUdp,  // a gossip address, which binds both
};

// A 127.0.0.1 port outside the ephemeral range, free for `use` a moment ago
// and not returned before by this process. Aborts with a message when none is
// found in a few hundred tries: no test that asked can run without it.
int FreePort(PortUse use = PortUse::kTcpAndUdp);

// A 127.0.0.1 socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to `port` when
// that port is free, closed when it goes out of scope.
class LoopbackSocket {
 public:
  LoopbackSocket(int type, int port);
  ~LoopbackSocket();
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  bool IsBound() const { return bound_; }

 private:
  const int fd_;
  bool bound_ = false;
};

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_TESTING_FREE_PORT_H_
