// Internal to core/mux: tells AwaitClosingPeer (closing_peer.h) which client a
// TLS handshake that gRPC refused came from. gRPC 1.51 logs the refusal without
// the peer's address and then shuts the socket down (shutdown(SHUT_RDWR), then
// close). The mux hands each TLS gRPC connection to gRPC and gives the watcher a
// duplicate of its descriptor: the duplicate costs no wake-up while data flows
// (only hang-ups are watched), sees gRPC's shutdown as a hang-up of both
// directions, and names the peer when that happens while the connection is young.
// A connection reset after that shutdown names the client too: bytes the client
// still had in flight make this side answer with a reset, often before the
// watcher's thread has looked (TLS 1.3 clients refused for a missing
// certificate do this). A reset does not say who began it, so a client's own
// reset of a young connection is reported as well (and one seen before gRPC
// logs is kept for a moment: closing_peer.h). A connection whose client
// closed first, or that failed with another error, names nobody. After
// kWatchFor the duplicate is dropped, so the watcher never keeps a socket open
// longer than that (gRPC's close of its own descriptor ends the socket once
// the duplicate is gone).
//
// Thread-safety: Add() is thread-safe; Stop() may be called from any thread
// but the watcher's.
#ifndef PROGLOG_CORE_MUX_HANDSHAKE_WATCHER_H_
#define PROGLOG_CORE_MUX_HANDSHAKE_WATCHER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace proglog::mux::internal {

class HandshakeWatcher {
 public:
  // How long a new connection is watched: gRPC refusing a handshake closes the
  // connection well within this.
  static constexpr std::chrono::seconds kWatchFor{10};

  static absl::StatusOr<std::unique_ptr<HandshakeWatcher>> Start();
  ~HandshakeWatcher();
  HandshakeWatcher(const HandshakeWatcher&) = delete;
  HandshakeWatcher& operator=(const HandshakeWatcher&) = delete;

  // Watches the socket `fd` (not taken: a duplicate is kept) accepted from
  // `peer` ("host:port"). Returns the watch's id for Cancel(), or 0 if it
  // cannot be watched (no descriptor left, or stopped); the connection itself
  // is unaffected either way.
  uint64_t Add(int fd, std::string peer);
  // Stops watching at once: the caller's hand-over of the socket failed and
  // its close must end the connection now, not when the watch runs out. An
  // unknown or finished id is ignored.
  void Cancel(uint64_t id);
  // Drops every watch and joins the thread. Idempotent.
  void Stop();

  // Connections being watched now.
  uint64_t Watching() const { return watching_.load(); }

 private:
  struct Watch;
  using Clock = std::chrono::steady_clock;
  HandshakeWatcher() = default;
  void Run();
  void Wake();
  // Watcher thread: takes the watches Add() queued and forgets the ones
  // Cancel() asked for.
  void AdoptIncoming();
  // Watcher thread: stops watching (closes the duplicate); idempotent.
  void Forget(Watch& watch);
  // Watcher thread: forgets the watches at the front that ended or expired.
  void ForgetExpired(Clock::time_point now);
  // The watch's socket hung up with `events`: offers the peer when gRPC shut it.
  static void Report(const Watch& watch, uint32_t events);

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  uint64_t watcher_id_ = 0;  // in ClosingPeers
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> watching_{0};
  // Watcher thread only; oldest first, so the front expires first (every
  // watch lasts kWatchFor). Forgotten watches stay until they reach the front.
  std::deque<std::unique_ptr<Watch>> live_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Watch>> incoming_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> cancelled_ ABSL_GUARDED_BY(mu_);  // ids already adopted
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace proglog::mux::internal

#endif  // PROGLOG_CORE_MUX_HANDSHAKE_WATCHER_H_
