#include "core/mux/stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/log/v1/wire.h"

namespace proglog::mux {

void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace internal {

absl::Status SetIoTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    return absl::InternalError(absl::StrCat("setsockopt timeout: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace {

absl::Status SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" is not host:port"));
  }
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

// A connected TCP socket, or Unavailable within `timeout`.
absl::StatusOr<int> ConnectTcp(const std::string& address, std::chrono::milliseconds timeout) {
  std::string host;
  std::string port;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &result); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", address, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      if (rc == 0) {
        errno = ETIMEDOUT;
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      }
    }
    if (rc == 0) {
      freeaddrinfo(result);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(result);
  return absl::UnavailableError(absl::StrCat("connect ", address, ": ", last_error));
}

}  // namespace

Stream::Stream(int fd, security::SslPtr ssl, std::string peer_name)
    : fd_(fd), ssl_(std::move(ssl)), peer_name_(std::move(peer_name)) {}

Stream::~Stream() {
  ssl_.reset();
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<size_t> Stream::Read(char* buf, size_t n) {
  if (ssl_ == nullptr) {
    for (;;) {
      ssize_t r = recv(fd_, buf, n, 0);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("read: ", std::strerror(errno)));
    }
  }
  size_t got = 0;
  int r = SSL_read_ex(ssl_.get(), buf, n, &got);
  if (r == 1) return got;
  int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_ZERO_RETURN) return 0;
  return absl::UnavailableError(
      absl::StrCat("TLS read: error ", err, " ", security::DrainOpenSslErrors()));
}

absl::Status Stream::Write(std::string_view data) {
  while (!data.empty()) {
    if (ssl_ == nullptr) {
      ssize_t w = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat("write: ", std::strerror(errno)));
      }
      data.remove_prefix(static_cast<size_t>(w));
    } else {
      size_t wrote = 0;
      int r = SSL_write_ex(ssl_.get(), data.data(), data.size(), &wrote);
      if (r != 1) {
        return absl::UnavailableError(absl::StrCat("TLS write: error ",
                                                   SSL_get_error(ssl_.get(), r), " ",
                                                   security::DrainOpenSslErrors()));
      }
      data.remove_prefix(wrote);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Stream::TryWrite(std::string_view data) {
  if (ssl_ != nullptr) return absl::FailedPreconditionError("TryWrite on a TLS stream");
  size_t wrote = 0;
  while (wrote < data.size()) {
    ssize_t w = send(fd_, data.data() + wrote, data.size() - wrote, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return absl::UnavailableError(absl::StrCat("write: ", std::strerror(errno)));
    }
    wrote += static_cast<size_t>(w);
  }
  return wrote;
}

void Stream::Shutdown() { shutdown(fd_, SHUT_RDWR); }

absl::StatusOr<std::unique_ptr<Stream>> DialRaft(const std::string& address, SSL_CTX* tls,
                                                 std::chrono::milliseconds timeout) {
  absl::StatusOr<int> connected = ConnectTcp(address, timeout);
  if (!connected.ok()) return connected.status();
  const int fd = *connected;
  // Closes the socket on every error path until a Stream owns it.
  std::unique_ptr<const int, void (*)(const int*)> guard(&fd, [](const int* p) { close(*p); });
  if (absl::Status s = internal::SetIoTimeout(fd, timeout); !s.ok()) return s;
  const char byte = static_cast<char>(wire::kRaftConnectionByte);
  if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
    return absl::UnavailableError(absl::StrCat("write to ", address, ": ", std::strerror(errno)));
  }
  if (tls == nullptr) {
    guard.release();
    return std::make_unique<Stream>(fd, nullptr, "");
  }
  security::SslPtr ssl(SSL_new(tls));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd) != 1) {
    return absl::InternalError(absl::StrCat("SSL_new: ", security::DrainOpenSslErrors()));
  }
  if (SSL_connect(ssl.get()) != 1) {
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with ", address, ": ", security::DrainOpenSslErrors()));
  }
  absl::StatusOr<std::string> peer = security::PeerCommonName(ssl.get());
  if (!peer.ok()) return peer.status();
  guard.release();
  return std::make_unique<Stream>(fd, std::move(ssl), *std::move(peer));
}

}  // namespace proglog::mux
