// The client's view of the cluster and its choice of server per call: writes
// to the leader, reads round-robin over the followers (or to the leader). The
// view comes from GetServers answers and from what calls learn on the way (a
// redirect naming the leader, an unreachable server). No I/O happens here;
// the client asks GetServers when NeedsRefresh() says so. With
// BalancePolicy::kPinned the view is the configured addresses, never more.
// Thread-safe.
#ifndef PROGLOG_CORE_CLIENT_PICKER_H_
#define PROGLOG_CORE_CLIENT_PICKER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/client/client.h"

namespace proglog::client {

class Picker {
 public:
  Picker(std::vector<std::string> bootstrap, BalancePolicy policy);

  // Replaces the view with a GetServers answer taken at `now`. An empty list
  // (no server answered) keeps the view but counts as a refresh, so that the
  // next attempt waits for the interval or a failure.
  void Update(const std::vector<Server>& servers, absl::Time now);
  // A follower named `address` as the leader. False (and ignored) if that
  // server has just failed to answer, or with kPinned.
  bool LeaderIs(const std::string& address);
  // `address` did not answer: it is skipped for a few seconds (unless every
  // candidate has failed), even if GetServers still lists it, and the view is
  // due for a refresh.
  void Failed(const std::string& address);
  // The view is due for a refresh (no leader, or the leader refused a write).
  void Invalidate();

  // True if the view was never filled, was invalidated, or is older than
  // `interval` (a zero interval: only the first two).
  bool NeedsRefresh(absl::Time now, absl::Duration interval) const;

  // Where the next write goes: the leader if known, else the next candidate.
  std::string ForWrite();
  // Where the next read goes: the next follower in turn, or the leader (per
  // the policy, or when no follower is known and reachable).
  std::string ForRead();
  // The known leader, if any.
  std::optional<std::string> Leader() const;
  // Whom to ask for GetServers, in order: the leader, the other known
  // servers, then the bootstrap addresses not among them.
  std::vector<std::string> RefreshOrder() const;

 private:
  std::vector<std::string> CandidatesLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::string NextOf(const std::vector<std::string>& from, size_t& cursor) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool HasFailedLocked(const std::string& address) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> bootstrap_;
  const BalancePolicy policy_;

  mutable absl::Mutex mu_;
  std::vector<Server> servers_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> leader_ ABSL_GUARDED_BY(mu_);
  // Unreachable servers and when they may be tried again.
  std::map<std::string, absl::Time> failed_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> refreshed_at_ ABSL_GUARDED_BY(mu_);
  bool invalid_ ABSL_GUARDED_BY(mu_) = true;
  size_t write_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  size_t read_cursor_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_PICKER_H_
