#include "core/mux/splicer.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "core/mux/closing_peer.h"
#include "core/mux/stream.h"

namespace proglog::mux::internal {
namespace {

// Bytes moved per splice call; a pipe holds 64 KiB by default.
constexpr size_t kChunk = size_t{64} * 1024;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// gRPC closing a connection younger than this may be refusing its TLS
// handshake, so its peer is offered to AwaitClosingPeer; older ones are not.
constexpr std::chrono::seconds kHandshakeAge{10};

int EpollTimeoutMs(std::optional<ClosingPeers::Clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(*deadline - ClosingPeers::Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

// One relayed connection: fd[0] is the client's TCP socket, fd[1] the backend's
// unix socket. dir[i] carries the bytes read from fd[i] to fd[1 - i].
struct Splicer::Connection {
  struct Direction {
    int pipe_r = -1;
    int pipe_w = -1;
    size_t pending = 0;  // bytes in the pipe, not yet written to the destination
    bool eof = false;    // the source sent FIN
    bool shut = false;   // FIN passed on to the destination
  };
  struct Side {
    Connection* c;
    int index;
  };
  int fd[2] = {-1, -1};
  Direction dir[2];
  Side side[2] = {{this, 0}, {this, 1}};
  uint32_t mask[2] = {0, 0};
  bool closed = false;
  std::string peer;  // the client's "host:port"
  ClosingPeers::Clock::time_point started = ClosingPeers::Clock::now();
  bool backend_closed = false;  // gRPC closed its side

  ~Connection() {
    for (int f : fd)
      if (f >= 0) close(f);
    for (const Direction& d : dir) {
      if (d.pipe_r >= 0) close(d.pipe_r);
      if (d.pipe_w >= 0) close(d.pipe_w);
    }
  }

  bool Reading(int i) const { return !dir[i].eof && dir[i].pending == 0; }

  // Writes what is in dir[i]'s pipe to fd[1-i]; false on a fatal error.
  bool Flush(int i) {
    Direction& d = dir[i];
    while (d.pending > 0) {
      ssize_t m = splice(d.pipe_r, nullptr, fd[1 - i], nullptr, d.pending, kSpliceFlags);
      if (m > 0) {
        d.pending -= static_cast<size_t>(m);
      } else if (m < 0 && errno == EINTR) {
        continue;
      } else if (m < 0 && errno == EAGAIN) {
        return true;
      } else {
        return false;
      }
    }
    if (d.eof && !d.shut) {
      d.shut = true;
      shutdown(fd[1 - i], SHUT_WR);
    }
    return true;
  }

  // Moves what fd[i] has into dir[i]'s pipe and on; false on a fatal error.
  bool Pump(int i) {
    Direction& d = dir[i];
    while (Reading(i)) {
      ssize_t n = splice(fd[i], nullptr, d.pipe_w, nullptr, kChunk, kSpliceFlags);
      if (n > 0) {
        d.pending += static_cast<size_t>(n);
        if (!Flush(i)) return false;
        // A short read has almost always drained the socket, and a second splice
        // would only say EAGAIN. If bytes are left (or arrive), the level-triggered
        // epoll reports the socket again.
        if (static_cast<size_t>(n) < kChunk) return true;
      } else if (n == 0) {
        d.eof = true;
        return Flush(i);
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        return true;
      } else {
        return false;
      }
    }
    return true;
  }

  bool Done() const { return dir[0].shut && dir[1].shut; }
};

absl::StatusOr<std::unique_ptr<Splicer>> Splicer::Start(std::string name) {
  std::unique_ptr<Splicer> s(new Splicer(std::move(name)));
  s->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epoll_fd_ < 0 || s->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("splicer: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->wake_fd_, &ev);
  s->relay_id_ = ClosingPeers::Get().AddRelay([raw = s.get()] { raw->Wake(); });
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

Splicer::~Splicer() {
  Stop();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Splicer::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(wake_fd_, &one, sizeof(one));
}

bool Splicer::Add(int client_fd, std::string peer) {
  auto c = std::make_unique<Connection>();
  c->fd[0] = client_fd;
  c->peer = std::move(peer);
  c->fd[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t n = std::min(name_.size(), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path + 1, name_.data(), n);  // sun_path[0] = 0: abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  if (c->fd[1] < 0 || connect(c->fd[1], reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return false;  // ~Connection closes both sockets
  }
  fcntl(client_fd, F_SETFL, fcntl(client_fd, F_GETFL) | O_NONBLOCK);
  for (Connection::Direction& d : c->dir) {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
    d.pipe_r = p[0];
    d.pipe_w = p[1];
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return false;
    incoming_.push_back(c.release());
  }
  Wake();
  return true;
}

void Splicer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  ClosingPeers::Get().RemoveRelay(relay_id_);
  stopping_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  for (Connection* c : incoming_) delete c;
  incoming_.clear();
}

void Splicer::Adopt(Connection* c) {
  for (int i = 0; i < 2; ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c->side[i];
    c->mask[i] = ev.events;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd[i], &ev);
  }
  relayed_.fetch_add(1);
  active_.fetch_add(1);
}

void Splicer::Close(Connection* c) {
  if (c->closed) return;
  c->closed = true;
  for (int f : c->fd) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, f, nullptr);
  active_.fetch_sub(1);
}

void Splicer::NoteBackendClose(Connection* c) {
  if (c->backend_closed) return;
  c->backend_closed = true;
  const ClosingPeers::Clock::time_point now = ClosingPeers::Clock::now();
  if (now - c->started < kHandshakeAge) ClosingPeers::Get().Offer(c->peer, now);
}

void Splicer::Run() {
  BlockSigpipeInThisThread();
  std::unordered_set<Connection*> live;
  std::vector<Connection*> closed;
  epoll_event events[64];
  while (!stopping_.load()) {
    int n = epoll_wait(epoll_fd_, events, 64, EpollTimeoutMs(ClosingPeers::Get().NextDeadline()));
    if (n < 0 && errno != EINTR) break;
    ClosingPeers::Get().Expire(ClosingPeers::Clock::now());
    for (int k = 0; k < n; ++k) {
      if (events[k].data.ptr == nullptr) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
        std::vector<Connection*> adopted;
        {
          absl::MutexLock lock(&mu_);
          adopted.swap(incoming_);
        }
        for (Connection* c : adopted) {
          live.insert(c);
          Adopt(c);
        }
        continue;
      }
      auto* side = static_cast<Connection::Side*>(events[k].data.ptr);
      Connection* c = side->c;
      if (c->closed) continue;
      const int i = side->index;
      const uint32_t ev = events[k].events;
      bool ok = (ev & EPOLLERR) == 0;
      if (ok && (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))) ok = c->Pump(i);
      if (ok && (ev & EPOLLOUT)) ok = c->Flush(1 - i);
      // A hang-up with nothing left to read from this socket: it can take no writes either.
      if (ok && (ev & EPOLLHUP) && c->dir[i].eof) ok = false;
      if (i == 1 && (!ok || c->dir[1].eof)) NoteBackendClose(c);
      if (!ok || c->Done()) {
        Close(c);
        closed.push_back(c);
        continue;
      }
      for (int j = 0; j < 2; ++j) {
        uint32_t want = (c->Reading(j) ? EPOLLIN | EPOLLRDHUP : 0u) |
                        (c->dir[1 - j].pending > 0 ? EPOLLOUT : 0u);
        if (want != c->mask[j]) {
          epoll_event update{};
          update.events = want;
          update.data.ptr = &c->side[j];
          epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd[j], &update);
          c->mask[j] = want;
        }
      }
    }
    for (Connection* c : closed) {
      live.erase(c);
      delete c;
    }
    closed.clear();
  }
  for (Connection* c : live) {
    Close(c);
    delete c;
  }
}

}  // namespace proglog::mux::internal
