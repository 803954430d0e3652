// core/raft/raft_log.h: the Raft core's view of its log: the entries already on
// Storage followed by "unstable" entries (and possibly a snapshot) that the
// caller has not yet persisted, plus the commit and apply positions. Internal
// to core/raft; exposed read-only through Raft::log() for checkers.
//
// Thread-safety: none; owned by one Raft object.
#ifndef PROGLOG_CORE_RAFT_RAFT_LOG_H_
#define PROGLOG_CORE_RAFT_RAFT_LOG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/raft/storage.h"
#include "core/raft/types.h"

namespace proglog::raft {

class RaftLog {
 public:
  // `storage` is borrowed and must outlive the log.
  explicit RaftLog(const Storage* storage);
  // Resets to what storage holds (after a restart).
  void Reset(uint64_t committed);

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const { return TermOrZero(LastIndex()); }
  // OutOfRange when compacted, NotFound when past the end.
  absl::StatusOr<uint64_t> Term(uint64_t index) const;
  uint64_t TermOrZero(uint64_t index) const;
  bool MatchTerm(uint64_t index, uint64_t term) const;
  // Raft's "at least as up to date" comparison of a candidate's last entry.
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;

  // Follower append: if the entry at `prev_index` has `prev_term`, merges
  // `entries` (dropping a conflicting suffix) and returns the index of the last
  // entry now known to match the leader; nullopt on mismatch.
  std::optional<uint64_t> MaybeAppend(uint64_t prev_index, uint64_t prev_term,
                                      absl::Span<const Entry> entries);
  // Leader append; entries must start at LastIndex() + 1.
  void Append(absl::Span<const Entry> entries);
  // Largest index <= `index` whose term is <= `term`: where a log with `term`
  // at `index` could agree with ours (fast backtracking).
  uint64_t FindConflictByTerm(uint64_t index, uint64_t term) const;
  // Entries [lo, hi) limited to `max_count` and `max_bytes` (at least one).
  absl::StatusOr<std::vector<Entry>> Slice(uint64_t lo, uint64_t hi, size_t max_count,
                                           uint64_t max_bytes) const;

  uint64_t Committed() const { return committed_; }
  uint64_t Applied() const { return applied_; }
  void CommitTo(uint64_t index);
  void AppliedTo(uint64_t index);
  bool HasCommittedToApply() const { return committed_ > applied_ && applied_ + 1 >= FirstIndex(); }
  // Committed entries not yet handed out for applying, up to `max_bytes`.
  std::vector<Entry> CommittedToApply(uint64_t max_bytes) const;

  // Replaces the log by a snapshot received from the leader.
  void RestoreSnapshot(const Snapshot& snapshot);

  const std::vector<Entry>& UnstableEntries() const { return unstable_; }
  const std::optional<Snapshot>& UnstableSnapshot() const { return unstable_snapshot_; }
  // Last index known persisted (what a leader may count for itself).
  uint64_t PersistedLastIndex() const;
  // The caller persisted entries up to (index, term) / the snapshot at `index`.
  void StableTo(uint64_t index, uint64_t term);
  void StableSnapshotTo(uint64_t index);

 private:
  void TruncateAndAppend(absl::Span<const Entry> entries);
  uint64_t FindConflict(absl::Span<const Entry> entries) const;

  const Storage* storage_;
  std::optional<Snapshot> unstable_snapshot_;
  std::vector<Entry> unstable_;  // unstable_[0].index == offset_
  uint64_t offset_ = 1;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_RAFT_LOG_H_
