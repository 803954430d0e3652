#include "core/raft/raft_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

RaftLog::RaftLog(const Storage* storage) : storage_(storage) { Reset(0); }

void RaftLog::Reset(uint64_t committed) {
  unstable_.clear();
  unstable_snapshot_.reset();
  offset_ = storage_->LastIndex() + 1;
  const uint64_t snap = storage_->FirstIndex() - 1;
  // A commit index past what survived a crash cannot be trusted for applying.
  committed_ = std::clamp(committed, snap, storage_->LastIndex());
  applied_ = snap;
}

uint64_t RaftLog::FirstIndex() const {
  if (unstable_snapshot_) return unstable_snapshot_->meta.index + 1;
  return storage_->FirstIndex();
}

uint64_t RaftLog::LastIndex() const {
  if (!unstable_.empty()) return offset_ + unstable_.size() - 1;
  if (unstable_snapshot_) return unstable_snapshot_->meta.index;
  return storage_->LastIndex();
}

absl::StatusOr<uint64_t> RaftLog::Term(uint64_t index) const {
  if (index == 0) return 0;
  if (!unstable_.empty() && index >= offset_) {
    if (index - offset_ < unstable_.size()) return unstable_[index - offset_].term;
    return absl::NotFoundError(absl::StrCat("index ", index, " past end"));
  }
  if (unstable_snapshot_) {
    if (index == unstable_snapshot_->meta.index) return unstable_snapshot_->meta.term;
    if (index < unstable_snapshot_->meta.index) return absl::OutOfRangeError("compacted");
    return absl::NotFoundError(absl::StrCat("index ", index, " past end"));
  }
  return storage_->Term(index);
}

uint64_t RaftLog::TermOrZero(uint64_t index) const {
  auto t = Term(index);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t index, uint64_t term) const {
  auto t = Term(index);
  return t.ok() && *t == term;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t last_term) const {
  const uint64_t my_term = LastTerm();
  return last_term > my_term || (last_term == my_term && last_index >= LastIndex());
}

uint64_t RaftLog::FindConflict(absl::Span<const Entry> entries) const {
  for (const Entry& e : entries) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t prev_index, uint64_t prev_term,
                                             absl::Span<const Entry> entries) {
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const uint64_t last_new = prev_index + entries.size();
  const uint64_t conflict = FindConflict(entries);
  if (conflict != 0) TruncateAndAppend(entries.subspan(conflict - prev_index - 1));
  return last_new;
}

void RaftLog::Append(absl::Span<const Entry> entries) { TruncateAndAppend(entries); }

void RaftLog::TruncateAndAppend(absl::Span<const Entry> entries) {
  if (entries.empty()) return;
  const uint64_t first = entries.front().index;
  if (first == offset_ + unstable_.size()) {
    // Plain append after the unstable tail.
  } else if (first <= offset_) {
    // Replaces everything from `first`, including persisted entries: storage
    // drops its own conflicting suffix when these are written.
    offset_ = first;
    unstable_.clear();
  } else {
    unstable_.resize(first - offset_);
  }
  unstable_.insert(unstable_.end(), entries.begin(), entries.end());
}

uint64_t RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  index = std::min(index, LastIndex());
  const uint64_t floor = FirstIndex() - 1;
  while (index > floor) {
    auto t = Term(index);
    if (!t.ok() || *t <= term) break;
    --index;
  }
  return index;
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi, size_t max_count,
                                                  uint64_t max_bytes) const {
  if (lo < FirstIndex()) return absl::OutOfRangeError(absl::StrCat("index ", lo, " compacted"));
  if (hi > LastIndex() + 1) return absl::NotFoundError("slice past end");
  if (max_count < hi - lo) hi = lo + std::max<size_t>(max_count, 1);
  std::vector<Entry> out;
  if (lo >= hi) return out;
  uint64_t bytes = 0;
  if (lo < offset_) {
    auto stored = storage_->Entries(lo, std::min(hi, offset_), max_bytes);
    if (!stored.ok()) return stored.status();
    out = std::move(*stored);
    for (const Entry& e : out) bytes += e.data.size();
    if (out.size() < std::min(hi, offset_) - lo) return out;  // byte limit reached
  }
  for (uint64_t i = std::max(lo, offset_); i < hi; ++i) {
    const Entry& e = unstable_[i - offset_];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void RaftLog::CommitTo(uint64_t index) {
  if (index > committed_) committed_ = std::min(index, LastIndex());
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index > applied_) applied_ = std::min(index, committed_);
}

std::vector<Entry> RaftLog::CommittedToApply(uint64_t max_bytes) const {
  if (!HasCommittedToApply()) return {};
  auto entries = Slice(applied_ + 1, committed_ + 1, SIZE_MAX, max_bytes);
  return entries.ok() ? std::move(*entries) : std::vector<Entry>{};
}

void RaftLog::RestoreSnapshot(const Snapshot& snapshot) {
  unstable_snapshot_ = snapshot;
  unstable_.clear();
  offset_ = snapshot.meta.index + 1;
  committed_ = snapshot.meta.index;
  applied_ = snapshot.meta.index;
}

uint64_t RaftLog::PersistedLastIndex() const {
  // Only leaders ask, and a leader never holds a snapshot it has not persisted.
  if (unstable_snapshot_) return 0;
  return offset_ - 1;
}

void RaftLog::StableTo(uint64_t index, uint64_t term) {
  if (unstable_.empty() || index < offset_) return;
  if (index - offset_ >= unstable_.size() || unstable_[index - offset_].term != term) return;
  unstable_.erase(unstable_.begin(),
                  unstable_.begin() + static_cast<std::ptrdiff_t>(index - offset_ + 1));
  offset_ = index + 1;
}

void RaftLog::StableSnapshotTo(uint64_t index) {
  if (!unstable_snapshot_ || unstable_snapshot_->meta.index != index) return;
  unstable_snapshot_.reset();
  // Storage may have kept entries after the snapshot that agree with it.
  if (unstable_.empty()) offset_ = storage_->LastIndex() + 1;
}

}  // namespace proglog::raft
