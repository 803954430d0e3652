// core/mux/closing_peer: who was behind a TLS connection gRPC just refused.
// gRPC 1.51 logs a failed TLS handshake without the peer's address. What it
// does right after logging the failure is shut the connection down; the mux's
// handshake watcher (core/mux/handshake_watcher.h) sees that and knows the
// client's TCP address. AwaitClosingPeer pairs the two: the first watched
// connection that gRPC shuts down after the call (within kClosingPeerWindow)
// names the peer.
//
// A connection can also be reset before gRPC logs: a client that refuses our
// certificate sends its alert and resets at once. A reset seen with nobody
// waiting is kept for kClosingPeerWindow and names the next failure logged.
//
// The pairing is by time, so it can be wrong in two rare ways, both between
// connections that are closing within the same window: two handshakes that
// fail together may swap addresses, and a client that closed or reset its own
// connection at that moment may be named instead. Without a watcher in the
// process (plaintext gRPC, a standalone node whose gRPC listens itself, a
// process with clients only) there is no peer to find and `done` runs at
// once with "".
//
// Thread-safety: everything here is thread-safe.
#ifndef PROGLOG_CORE_MUX_CLOSING_PEER_H_
#define PROGLOG_CORE_MUX_CLOSING_PEER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace proglog::mux {

// Long enough for a busy watcher thread to see the close; short enough that a
// lone warning is not held back noticeably.
inline constexpr std::chrono::milliseconds kClosingPeerWindow{250};

// Runs `done` exactly once: with the client address ("host:port") of the next
// watched connection that gRPC closes within kClosingPeerWindow, else with "".
// `done` runs on a watcher thread or on the caller's; it must not block.
using ClosingPeerCallback = absl::AnyInvocable<void(std::string peer) &&>;
void AwaitClosingPeer(ClosingPeerCallback done);

namespace internal {

// The process-wide rendezvous between AwaitClosingPeer and the watchers.
class ClosingPeers {
 public:
  using Clock = std::chrono::steady_clock;

  static ClosingPeers& Get();

  void Await(ClosingPeerCallback done, Clock::time_point now);
  // A watcher registers while it runs; `wake` makes its thread look at
  // NextDeadline() again. Removing the last watcher answers every waiter.
  uint64_t AddWatcher(absl::AnyInvocable<void()> wake);
  void RemoveWatcher(uint64_t id);
  enum class Closed {
    kShutDown,  // shut on our side: gRPC did it, after logging
    kReset,     // reset: maybe before gRPC read (and logged) what the client sent
  };
  // A watched connection from `peer` closed: the oldest waiter gets it. With
  // nobody waiting, a reset's peer is kept for the next Await within
  // kClosingPeerWindow; a shut-down one is dropped.
  void Offer(std::string peer, Clock::time_point now, Closed how);
  // Answers with "" every waiter whose window ended before `now`.
  void Expire(Clock::time_point now);
  std::optional<Clock::time_point> NextDeadline();

 private:
  struct Waiter {
    Clock::time_point deadline;
    ClosingPeerCallback done;
  };
  struct EarlyReset {
    Clock::time_point seen;
    std::string peer;
  };

  void DropOldResets(Clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::deque<EarlyReset> early_resets_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::map<uint64_t, absl::AnyInvocable<void()>> watchers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_watcher_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace internal
}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_CLOSING_PEER_H_
