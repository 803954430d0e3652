#include "core/mux/closing_peer.h"

#include <utility>
#include <vector>

namespace proglog::mux {

void AwaitClosingPeer(ClosingPeerCallback done) {
  internal::ClosingPeers::Get().Await(std::move(done), internal::ClosingPeers::Clock::now());
}

namespace internal {

ClosingPeers& ClosingPeers::Get() {
  static auto* peers = new ClosingPeers();  // never destroyed: watchers may outlive statics
  return *peers;
}

void ClosingPeers::Await(ClosingPeerCallback done, Clock::time_point now) {
  std::string peer;  // nobody, unless a reset seen just before names the client
  {
    absl::MutexLock lock(&mu_);
    if (!watchers_.empty()) {
      DropOldResets(now);
      if (early_resets_.empty()) {
        waiters_.push_back({now + kClosingPeerWindow, std::move(done)});
        // The watcher threads may be asleep with no deadline; they must time the window.
        for (auto& [id, wake] : watchers_) wake();
        return;
      }
      peer = std::move(early_resets_.front().peer);
      early_resets_.pop_front();
    }
  }
  std::move(done)(std::move(peer));
}

void ClosingPeers::DropOldResets(Clock::time_point now) {
  while (!early_resets_.empty() && early_resets_.front().seen + kClosingPeerWindow < now) {
    early_resets_.pop_front();
  }
}

uint64_t ClosingPeers::AddWatcher(absl::AnyInvocable<void()> wake) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_watcher_id_++;
  watchers_.emplace(id, std::move(wake));
  return id;
}

void ClosingPeers::RemoveWatcher(uint64_t id) {
  std::deque<Waiter> orphans;
  {
    absl::MutexLock lock(&mu_);
    watchers_.erase(id);
    if (watchers_.empty()) {
      orphans.swap(waiters_);
      early_resets_.clear();
    }
  }
  for (Waiter& w : orphans) std::move(w.done)("");
}

void ClosingPeers::Offer(std::string peer, Clock::time_point now, Closed how) {
  Expire(now);
  ClosingPeerCallback done;
  {
    absl::MutexLock lock(&mu_);
    if (waiters_.empty()) {
      DropOldResets(now);
      if (how == Closed::kReset) early_resets_.push_back({now, std::move(peer)});
      return;
    }
    done = std::move(waiters_.front().done);
    waiters_.pop_front();
  }
  std::move(done)(std::move(peer));
}

void ClosingPeers::Expire(Clock::time_point now) {
  std::vector<ClosingPeerCallback> expired;
  {
    absl::MutexLock lock(&mu_);
    while (!waiters_.empty() && waiters_.front().deadline < now) {
      expired.push_back(std::move(waiters_.front().done));
      waiters_.pop_front();
    }
  }
  for (ClosingPeerCallback& done : expired) std::move(done)("");
}

std::optional<ClosingPeers::Clock::time_point> ClosingPeers::NextDeadline() {
  absl::MutexLock lock(&mu_);
  if (waiters_.empty()) return std::nullopt;
  return waiters_.front().deadline;
}

}  // namespace internal
}  // namespace proglog::mux
