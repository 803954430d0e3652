// core/mux/closing_peer: who was behind a TLS connection gRPC just refused.
// gRPC 1.51 logs a failed TLS handshake without the peer's address, and in a
// node gRPC only sees the mux's relay (core/mux/splicer) anyway. What gRPC
// does right after logging the failure is close the connection; the relay
// sees that close and knows the client's TCP address. AwaitClosingPeer pairs
// the two: the first relayed connection whose gRPC side closes after the call
// (within kClosingPeerWindow) names the peer.
//
// The pairing is by time, so it can be wrong in two rare ways, both between
// connections that are closing within the same window: two handshakes that
// fail together may swap addresses, and a client that closed its own
// connection at that moment may be named instead. Without a relay in the
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

// Long enough for a busy relay thread to see the close; short enough that a
// lone warning is not held back noticeably.
inline constexpr std::chrono::milliseconds kClosingPeerWindow{250};

// Runs `done` exactly once: with the client address ("host:port") of the next
// relayed connection that gRPC closes within kClosingPeerWindow, else with "".
// `done` runs on a relay thread or on the caller's; it must not block.
using ClosingPeerCallback = absl::AnyInvocable<void(std::string peer) &&>;
void AwaitClosingPeer(ClosingPeerCallback done);

namespace internal {

// The process-wide rendezvous between AwaitClosingPeer and the relays.
class ClosingPeers {
 public:
  using Clock = std::chrono::steady_clock;

  static ClosingPeers& Get();

  void Await(ClosingPeerCallback done, Clock::time_point now);
  // A relay registers while it runs; `wake` makes its thread look at
  // NextDeadline() again. Removing the last relay answers every waiter.
  uint64_t AddRelay(absl::AnyInvocable<void()> wake);
  void RemoveRelay(uint64_t id);
  // gRPC closed a relayed connection from `peer`: the oldest waiter gets it.
  void Offer(std::string peer, Clock::time_point now);
  // Answers with "" every waiter whose window ended before `now`.
  void Expire(Clock::time_point now);
  std::optional<Clock::time_point> NextDeadline();

 private:
  struct Waiter {
    Clock::time_point deadline;
    ClosingPeerCallback done;
  };

  absl::Mutex mu_;
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, absl::AnyInvocable<void()>> relays_ ABSL_GUARDED_BY(mu_);
  uint64_t next_relay_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace internal
}  // namespace proglog::mux

#endif  // PROGLOG_CORE_MUX_CLOSING_PEER_H_
