#include "core/discovery/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace proglog::discovery {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(AV(what), ": ", std::strerror(errno)));
}

absl::StatusOr<Fd> BindOne(int type, const Endpoint& at) {
  Fd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd.Valid()) return Errno("socket");
  int one = 1;
  setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = at.ToSockaddr();
  if (bind(fd.Get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return Errno(absl::StrCat("bind ", at.ToString()));
  }
  return fd;
}

}  // namespace

std::string Endpoint::ToString() const {
  if (ip.size() != 4) return absl::StrCat("<bad ip>:", port);
  return absl::StrCat(static_cast<uint8_t>(ip[0]), ".", static_cast<uint8_t>(ip[1]), ".",
                      static_cast<uint8_t>(ip[2]), ".", static_cast<uint8_t>(ip[3]), ":", port);
}

sockaddr_in Endpoint::ToSockaddr() const {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (ip.size() == 4) std::memcpy(&sa.sin_addr, ip.data(), 4);
  return sa;
}

Endpoint Endpoint::FromSockaddr(const sockaddr_in& sa) {
  Endpoint e;
  e.ip.assign(reinterpret_cast<const char*>(&sa.sin_addr), 4);
  e.port = ntohs(sa.sin_port);
  return e;
}

namespace {

// Splits "host:port"; InvalidArgument naming the text when it is not that.
absl::Status SplitHostPort(std::string_view text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", AV(text), "\" needs host:port"));
  }
  uint32_t number = 0;
  if (!absl::SimpleAtoi(AV(text.substr(colon + 1)), &number) || number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in address \"", AV(text), "\""));
  }
  *host = std::string(text.substr(0, colon));
  *port = static_cast<uint16_t>(number);
  return absl::OkStatus();
}

// The first IPv4 address of `host` (a dotted address or a name).
absl::StatusOr<in_addr> ResolveIpv4(const std::string& host, std::string_view text) {
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) == 1) return addr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve the host in \"", AV(text),
                                               "\" to an IPv4 address: ", gai_strerror(rc)));
  }
  addr = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr;
  freeaddrinfo(found);
  return addr;
}

}  // namespace

absl::Status CheckHostPort(std::string_view text) {
  std::string host;
  uint16_t port = 0;
  return SplitHostPort(text, &host, &port);
}

absl::StatusOr<Endpoint> ParseEndpoint(std::string_view text) {
  std::string host;
  uint16_t port = 0;
  if (absl::Status s = SplitHostPort(text, &host, &port); !s.ok()) return s;
  absl::StatusOr<in_addr> addr = ResolveIpv4(host, text);
  if (!addr.ok()) return addr.status();
  Endpoint e;
  e.ip.assign(reinterpret_cast<const char*>(&*addr), 4);
  e.port = port;
  return e;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.Release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<BoundSockets> BindGossipSockets(const Endpoint& bind) {
  // With port 0 the UDP port the kernel picks may be taken for TCP; retry a few times.
  absl::Status last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto udp = BindOne(SOCK_DGRAM, bind);
    if (!udp.ok()) return udp.status();
    sockaddr_in sa{};
    socklen_t len = sizeof(sa);
    getsockname(udp->Get(), reinterpret_cast<sockaddr*>(&sa), &len);
    Endpoint local = Endpoint::FromSockaddr(sa);
    auto tcp = BindOne(SOCK_STREAM, local);
    if (!tcp.ok()) {
      last = tcp.status();
      if (bind.port != 0) return last;
      continue;
    }
    if (listen(tcp->Get(), 128) != 0) return Errno("listen");
    int rcvbuf = 4 << 20;
    setsockopt(udp->Get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return BoundSockets{*std::move(udp), *std::move(tcp), local};
  }
  return last;
}

bool WaitReadable(int fd, absl::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) > 0;
}

absl::StatusOr<Fd> ConnectTcp(const Endpoint& to, absl::Time deadline) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.Valid()) return Errno("socket");
  sockaddr_in sa = to.ToSockaddr();
  if (connect(fd.Get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno != EINPROGRESS) return Errno(absl::StrCat("connect ", to.ToString()));
    pollfd p{fd.Get(), POLLOUT, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("connect ", to.ToString(), ": timeout"));
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.Get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return Errno(absl::StrCat("connect ", to.ToString()));
    }
  }
  return fd;
}

absl::Status WriteAll(int fd, std::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return Errno("send");
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) return absl::DeadlineExceededError("send timeout");
  }
  return absl::OkStatus();
}

absl::StatusOr<StreamMessage> ReadStreamMessage(int fd, const Keyring& keyring,
                                                absl::Time deadline) {
  std::string buf;
  char chunk[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) <= 0) {
      return absl::DeadlineExceededError("timed out reading a stream message");
    }
    ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return Errno("recv");
    if (n == 0) return absl::UnavailableError("connection closed mid-message");
    buf.append(chunk, n);
    if (buf.size() > kMaxStreamBytes + 64) {
      return absl::ResourceExhaustedError("stream message too large");
    }
    StreamMessage msg;
    std::string error;
    DecodeResult r = DecodeStreamMessage(buf, keyring, &msg, &error);
    if (r == DecodeResult::kOk) return msg;
    if (r == DecodeResult::kCorrupt) return absl::InvalidArgumentError(error);
  }
}

}  // namespace proglog::discovery
