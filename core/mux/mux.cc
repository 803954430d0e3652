#include "core/mux/mux.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/mux/handshake_watcher.h"
#include "proto/log/v1/wire.h"
#include "spdlog/spdlog.h"

namespace proglog::mux {
namespace {

using Clock = std::chrono::steady_clock;

std::string PeerAddress(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return "?";
}

void SetBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); }

}  // namespace

struct Mux::Pending {
  Clock::time_point deadline;
  std::string peer;
  security::SslPtr ssl;  // set once 0x01 was read and the TLS handshake began
};

absl::StatusOr<std::unique_ptr<Mux>> Mux::Listen(Options options) {
  std::unique_ptr<Mux> mux(new Mux(std::move(options)));
  const std::string& address = mux->options_.address;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", address, "\" lacks :port"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  mux->host_ = host;
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &result);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("resolve ", address, ": ", gai_strerror(rc)));
  }
  std::string error = "no address";
  for (addrinfo* ai = result; ai != nullptr && mux->listen_fd_ < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    // SO_REUSEADDR only (not SO_REUSEPORT): a second node on a busy port must fail.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      mux->listen_fd_ = fd;
    } else {
      error = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(result);
  if (mux->listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(mux->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  mux->port_ = bound.ss_family == AF_INET6
                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  if (mux->options_.grpc_tls) {
    absl::StatusOr<std::unique_ptr<internal::HandshakeWatcher>> watcher =
        internal::HandshakeWatcher::Start();
    if (!watcher.ok()) return watcher.status();
    mux->watcher_ = *std::move(watcher);
  }

  mux->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  mux->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (mux->epoll_fd_ < 0 || mux->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("mux: ", std::strerror(errno)));
  }
  for (int fd : {mux->listen_fd_, mux->wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(mux->epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  return mux;
}

Mux::Mux(Options options) : options_(std::move(options)) {}

Mux::~Mux() {
  Shutdown();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::string Mux::Address() const { return absl::StrCat(host_, ":", port_); }

absl::Status Mux::Start(GrpcHandler grpc, RaftHandler raft) {
  absl::MutexLock lock(&mu_);
  if (started_ || accepting_stopped_) return absl::FailedPreconditionError("mux already started");
  started_ = true;
  grpc_ = std::move(grpc);
  raft_ = std::move(raft);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Mux::StopAccepting() {
  absl::MutexLock lock(&mu_);
  if (accepting_stopped_) return;
  accepting_stopped_ = true;
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  for (auto& [fd, pending] : pending_) close(fd);
  pending_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void Mux::Shutdown() {
  StopAccepting();
  if (watcher_ != nullptr) watcher_->Stop();
}

Stats Mux::GetStats() const {
  Stats s;
  s.accepted = counters_.accepted.load();
  s.grpc = counters_.grpc.load();
  s.raft = counters_.raft.load();
  s.timed_out = counters_.timed_out.load();
  s.closed_early = counters_.closed_early.load();
  s.raft_tls_refused = counters_.raft_tls_refused.load();
  s.raft_garbage = counters_.raft_garbage.load();
  s.unserved = counters_.unserved.load();
  s.over_capacity = counters_.over_capacity.load();
  return s;
}

void Mux::Run() {
  BlockSigpipeInThisThread();
  epoll_event events[64];
  while (!stopping_.load()) {
    int timeout_ms = -1;
    if (!pending_.empty()) {
      Clock::time_point next = Clock::time_point::max();
      for (const auto& [fd, p] : pending_) next = std::min(next, p->deadline);
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
    int n = epoll_wait(epoll_fd_, events, 64, timeout_ms);
    if (n < 0 && errno != EINTR) {
      spdlog::error("mux: epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      if (fd == wake_fd_) continue;  // only Stop wakes us; the loop condition sees it
      if (fd == listen_fd_) {
        OnAccept();
      } else {
        OnPendingEvent(fd);
      }
    }
    const Clock::time_point now = Clock::now();
    std::vector<int> expired;
    for (const auto& [fd, p] : pending_) {
      if (p->deadline <= now) expired.push_back(fd);
    }
    for (int fd : expired) {
      counters_.timed_out.fetch_add(1);
      spdlog::debug("mux: {} sent no first byte or handshake in time", pending_[fd]->peer);
      ClosePending(fd);
    }
  }
}

void Mux::OnAccept() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) spdlog::warn("mux: accept: {}", std::strerror(errno));
      return;
    }
    counters_.accepted.fetch_add(1);
    if (pending_.size() >= static_cast<size_t>(std::max(1, options_.max_pending))) {
      counters_.over_capacity.fetch_add(1);
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto p = std::make_unique<Pending>();
    p->deadline = Clock::now() + options_.handshake_timeout;
    p->peer = PeerAddress(addr);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    pending_[fd] = std::move(p);
  }
}

void Mux::OnPendingEvent(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  Pending& p = *it->second;
  if (p.ssl != nullptr) {
    HandshakeStep(fd, p);
    return;
  }
  unsigned char first = 0;
  ssize_t r = recv(fd, &first, 1, MSG_PEEK);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    counters_.closed_early.fetch_add(1);
    ClosePending(fd);
    return;
  }
  if (first != wire::kRaftConnectionByte) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    std::string peer = std::move(p.peer);
    pending_.erase(it);  // `p` is gone from here on
    HandToGrpc(fd, std::move(peer));
    return;
  }
  [[maybe_unused]] ssize_t consumed = recv(fd, &first, 1, 0);
  if (options_.raft_tls == nullptr) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    pending_.erase(it);
    HandToRaft(fd, nullptr, "");
    return;
  }
  p.ssl.reset(SSL_new(options_.raft_tls));
  if (p.ssl == nullptr || SSL_set_fd(p.ssl.get(), fd) != 1) {
    spdlog::error("mux: SSL_new: {}", security::DrainOpenSslErrors());
    counters_.unserved.fetch_add(1);
    ClosePending(fd);
    return;
  }
  SSL_set_accept_state(p.ssl.get());
  HandshakeStep(fd, p);
}

void Mux::HandshakeStep(int fd, Pending& p) {
  int r = SSL_do_handshake(p.ssl.get());
  if (r == 1) {
    absl::StatusOr<std::string> cn = security::PeerCommonName(p.ssl.get());
    if (!cn.ok()) {
      spdlog::warn("mux: refused Raft peer {}: {}", p.peer, cn.status().ToString());
      counters_.raft_tls_refused.fetch_add(1);
      ClosePending(fd);
      return;
    }
    security::SslPtr ssl = std::move(p.ssl);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    pending_.erase(fd);
    HandToRaft(fd, std::move(ssl), *std::move(cn));
    return;
  }
  const int err = SSL_get_error(p.ssl.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    epoll_event ev{};
    ev.events = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    return;
  }
  const long verify = SSL_get_verify_result(p.ssl.get());
  std::string detail = security::DrainOpenSslErrors();
  // Logged, then counted: whoever sees the count finds the line already logged.
  if (verify != X509_V_OK || detail.find("certificate") != std::string::npos) {
    spdlog::warn("mux: refused Raft peer {}: {} ({})", p.peer, detail,
                 X509_verify_cert_error_string(verify));
    counters_.raft_tls_refused.fetch_add(1);
  } else {
    spdlog::warn("mux: dropped Raft connection from {}: not a TLS handshake ({})", p.peer,
                 detail.empty() ? "connection closed" : detail);
    counters_.raft_garbage.fetch_add(1);
  }
  ClosePending(fd);
}

void Mux::ClosePending(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  it->second->ssl.reset();
  pending_.erase(it);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
}

void Mux::HandToGrpc(int fd, std::string peer) {
  if (!grpc_) {
    counters_.unserved.fetch_add(1);
    close(fd);
    return;
  }
  // Watched before the hand-over: gRPC may refuse the handshake and close `fd`
  // at any moment after it.
  const uint64_t watch = watcher_ != nullptr ? watcher_->Add(fd, peer) : 0;
  if (watcher_ != nullptr && watch == 0) {
    spdlog::debug("mux: cannot watch the TLS handshake of {}", peer);
  }
  // Counted before the hand-over: once gRPC has the connection, a call on it
  // can complete before this thread runs again, and whoever made the call must
  // find it counted.
  counters_.grpc.fetch_add(1);
  if (absl::Status handed = grpc_(fd); !handed.ok()) {
    spdlog::warn("mux: gRPC did not take the connection from {}: {}", peer, handed.ToString());
    counters_.grpc.fetch_sub(1);
    counters_.unserved.fetch_add(1);
    // The handler closed `fd`; the watch's duplicate must not keep the client waiting.
    if (watch != 0) watcher_->Cancel(watch);
  }
}

void Mux::HandToRaft(int fd, security::SslPtr ssl, std::string peer_name) {
  SetBlocking(fd);
  auto stream = std::make_unique<Stream>(fd, std::move(ssl), std::move(peer_name));
  if (!raft_) {
    counters_.unserved.fetch_add(1);
    return;  // the stream closes the socket
  }
  counters_.raft.fetch_add(1);
  raft_(std::move(stream));
}

}  // namespace proglog::mux
