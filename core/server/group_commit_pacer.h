// core/server/group_commit_pacer: decides how long a group committer (the
// local commit log's writer, the Raft driver loop) waits for more appends
// before its next commit, so that clients that take turns share one fsync.
//
// Why: with N clients each waiting for its append, a committer that starts the
// next fsync as soon as the previous one ends splits them into two groups that
// alternate: the clients answered by fsync k come back while fsync k+1 (of the
// others) runs, and wait for it to end before their own fsync starts. Each
// fsync then carries about N/2 appends and each client waits about two fsyncs.
// Waiting, after an fsync, for the clients it answered to come back (a round
// trip, much shorter than an fsync) merges the groups: one fsync per round,
// carrying all N.
//
// The wait ends when as many submissions are queued as the last commit answered
// plus those that were already waiting, or at a deadline: half the last
// commit's duration after it ended (at most kMaxWait), so waiting never costs
// more than half an fsync and pays off whenever the clients' round trip is
// shorter than that. Commits that did not
// fsync (durability never or interval) wait for nothing: there is no fsync to share.
//
// Thread-safety: none; one committer thread owns a pacer.
#ifndef PROGLOG_CORE_SERVER_GROUP_COMMIT_PACER_H_
#define PROGLOG_CORE_SERVER_GROUP_COMMIT_PACER_H_

#include <algorithm>
#include <cstddef>
#include <optional>

#include "absl/time/time.h"

namespace proglog::server {

class GroupCommitPacer {
 public:
  // The longest a commit is held back for stragglers.
  static constexpr absl::Duration kMaxWait = absl::Milliseconds(10);

  // What the committer waits for before its next commit.
  struct Wait {
    size_t queued;        // ... until this many submissions are queued,
    absl::Time deadline;  // ... or until this time.
  };

  // Records a commit that answered `answered` submissions, ran from `start` to
  // `end`, and fsynced (`synced`) or not; `still_queued` submissions were
  // waiting when it ended.
  void Committed(size_t answered, absl::Time start, absl::Time end, bool synced,
                 size_t still_queued) {
    if (!synced || answered == 0) {
      next_.reset();
      return;
    }
    next_ = Wait{answered + still_queued, end + std::min((end - start) / 2, kMaxWait)};
  }

  // The wait before the next commit, if any; consumed by the call (one wait
  // per commit).
  std::optional<Wait> TakeWait() {
    std::optional<Wait> wait = next_;
    next_.reset();
    return wait;
  }

 private:
  std::optional<Wait> next_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_GROUP_COMMIT_PACER_H_
