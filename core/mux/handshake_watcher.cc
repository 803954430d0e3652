#include "core/mux/handshake_watcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/mux/closing_peer.h"

namespace proglog::mux::internal {
namespace {

using Clock = ClosingPeers::Clock;

int EpollTimeoutMs(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

std::optional<Clock::time_point> Earliest(std::optional<Clock::time_point> a,
                                          std::optional<Clock::time_point> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// The client sent its FIN before our side shut down: the close was the client's.
bool ClientClosedFirst(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  return info.tcpi_state == TCP_CLOSE_WAIT || info.tcpi_state == TCP_LAST_ACK;
}

}  // namespace

struct HandshakeWatcher::Watch {
  uint64_t id = 0;
  int fd = -1;       // our duplicate; -1 once forgotten
  std::string peer;  // the client's "host:port"
  Clock::time_point until;

  ~Watch() {
    if (fd >= 0) close(fd);
  }
};

absl::StatusOr<std::unique_ptr<HandshakeWatcher>> HandshakeWatcher::Start() {
  std::unique_ptr<HandshakeWatcher> w(new HandshakeWatcher());
  w->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  w->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->epoll_fd_ < 0 || w->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("handshake watcher: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(w->epoll_fd_, EPOLL_CTL_ADD, w->wake_fd_, &ev);
  w->watcher_id_ = ClosingPeers::Get().AddWatcher([raw = w.get()] { raw->Wake(); });
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  return w;
}

HandshakeWatcher::~HandshakeWatcher() {
  Stop();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void HandshakeWatcher::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(wake_fd_, &one, sizeof(one));
}

uint64_t HandshakeWatcher::Add(int fd, std::string peer) {
  auto watch = std::make_unique<Watch>();
  // Duplicated here, before the caller hands `fd` on: once gRPC has closed it,
  // its number may name another file.
  watch->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (watch->fd < 0) return 0;
  watch->peer = std::move(peer);
  watch->until = Clock::now() + kWatchFor;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return 0;
    id = watch->id = next_id_++;
    incoming_.push_back(std::move(watch));
  }
  Wake();
  return id;
}

void HandshakeWatcher::Cancel(uint64_t id) {
  std::unique_ptr<Watch> unadopted;  // closed once the lock is released
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || id == 0) return;
    auto it = std::find_if(incoming_.begin(), incoming_.end(),
                           [id](const std::unique_ptr<Watch>& w) { return w->id == id; });
    if (it != incoming_.end()) {
      unadopted = std::move(*it);
      incoming_.erase(it);
      return;
    }
    cancelled_.push_back(id);
  }
  Wake();
}

void HandshakeWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  ClosingPeers::Get().RemoveWatcher(watcher_id_);
  stopping_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  incoming_.clear();
}

void HandshakeWatcher::Report(const Watch& watch, uint32_t events) {
  // EPOLLHUP: both directions are shut on our side, which is what gRPC's
  // shutdown(SHUT_RDWR) does. Bytes the client had in flight may arrive after
  // it, before this thread looked; our side answers them with a reset
  // (ECONNRESET, RFC 1122's reset on data after a close), so a connection gRPC
  // refused can look reset here, and is reported all the same. A client
  // that closed first is not gRPC refusing anything, nor is any other error
  // (EPIPE is the reset of a socket the client had half closed).
  if ((events & EPOLLHUP) == 0) return;
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(watch.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return;
  if (error != 0 && error != ECONNRESET) return;
  if (ClientClosedFirst(watch.fd)) return;
  ClosingPeers::Get().Offer(
      watch.peer, Clock::now(),
      error == ECONNRESET ? ClosingPeers::Closed::kReset : ClosingPeers::Closed::kShutDown);
}

void HandshakeWatcher::Forget(Watch& watch) {
  if (watch.fd < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watch.fd, nullptr);
  close(watch.fd);
  watch.fd = -1;
  watching_.fetch_sub(1);
}

void HandshakeWatcher::AdoptIncoming() {
  uint64_t count;
  [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
  std::vector<std::unique_ptr<Watch>> adopted;
  std::vector<uint64_t> cancelled;
  {
    absl::MutexLock lock(&mu_);
    adopted.swap(incoming_);
    cancelled.swap(cancelled_);
  }
  for (std::unique_ptr<Watch>& watch : adopted) {
    epoll_event ev{};
    ev.events = EPOLLRDHUP;  // hang-ups only: no wake-up for data
    ev.data.ptr = watch.get();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, watch->fd, &ev);
    watching_.fetch_add(1);
    live_.push_back(std::move(watch));
  }
  for (uint64_t id : cancelled) {
    auto it = std::find_if(live_.begin(), live_.end(),
                           [id](const std::unique_ptr<Watch>& w) { return w->id == id; });
    if (it != live_.end()) Forget(**it);
  }
}

void HandshakeWatcher::ForgetExpired(Clock::time_point now) {
  while (!live_.empty() && (live_.front()->fd < 0 || live_.front()->until <= now)) {
    Forget(*live_.front());
    live_.pop_front();
  }
}

void HandshakeWatcher::Run() {
  epoll_event events[64];
  while (!stopping_.load()) {
    std::optional<Clock::time_point> next = ClosingPeers::Get().NextDeadline();
    if (!live_.empty()) next = Earliest(next, live_.front()->until);
    const int n = epoll_wait(epoll_fd_, events, 64, EpollTimeoutMs(next));
    if (n < 0 && errno != EINTR) break;
    for (int k = 0; k < n; ++k) {
      auto* watch = static_cast<Watch*>(events[k].data.ptr);
      if (watch == nullptr) {
        AdoptIncoming();
      } else if (watch->fd >= 0) {  // not forgotten earlier in this batch
        Report(*watch, events[k].events);
        Forget(*watch);
      }
    }
    const Clock::time_point now = Clock::now();
    ClosingPeers::Get().Expire(now);
    ForgetExpired(now);
  }
  for (std::unique_ptr<Watch>& watch : live_) Forget(*watch);
  live_.clear();
}

}  // namespace proglog::mux::internal
