// Internal: the sockets under memberlist — one UDP socket and one TCP listener
// on the same IPv4 address and port, plus one-shot outgoing TCP exchanges.
// Blocking calls are bounded by deadlines or short poll timeouts so that the
// owning threads notice shutdown.
#ifndef PROGLOG_CORE_DISCOVERY_TRANSPORT_H_
#define PROGLOG_CORE_DISCOVERY_TRANSPORT_H_

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/discovery/packet.h"

namespace proglog::discovery {

// An IPv4 endpoint; `ip` holds the 4 address bytes as memberlist carries them.
struct Endpoint {
  Bytes ip;
  uint16_t port = 0;
  std::string ToString() const;
  sockaddr_in ToSockaddr() const;
  static Endpoint FromSockaddr(const sockaddr_in& sa);
  bool operator==(const Endpoint& o) const { return ip == o.ip && port == o.port; }
};

// "host:port" where host is a dotted IPv4 address or a name, resolved to its
// first IPv4 address (through the system resolver: /etc/hosts, DNS). A name
// that does not resolve is Unavailable (it may resolve later); bad syntax is
// InvalidArgument.
absl::StatusOr<Endpoint> ParseEndpoint(std::string_view text);
// Checks the syntax of "host:port" without resolving the host.
absl::Status CheckHostPort(std::string_view text);

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int Get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  bool Valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Binds UDP and TCP (listening) sockets to the same address; port 0 picks a
// port that is free for both.
struct BoundSockets {
  Fd udp;
  Fd tcp;
  Endpoint local;
};
absl::StatusOr<BoundSockets> BindGossipSockets(const Endpoint& bind);

// Waits up to `timeout` for `fd` to become readable; false on timeout.
bool WaitReadable(int fd, absl::Duration timeout);

// Connects with a deadline.
absl::StatusOr<Fd> ConnectTcp(const Endpoint& to, absl::Time deadline);
absl::Status WriteAll(int fd, std::string_view data, absl::Time deadline);
// Reads one stream message (see packet.h) before `deadline`.
absl::StatusOr<StreamMessage> ReadStreamMessage(int fd, const Keyring& keyring,
                                                absl::Time deadline);

}  // namespace proglog::discovery

#endif  // PROGLOG_CORE_DISCOVERY_TRANSPORT_H_
