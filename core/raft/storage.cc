#include "core/raft/storage.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

MemoryStorage::MemoryStorage(ConfState conf) {
  pending_.conf_state = std::move(conf);
  pending_.snapshot.meta.conf = pending_.conf_state;
  durable_ = pending_;
}

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{pending_.hard_state, pending_.conf_state};
}

uint64_t MemoryStorage::FirstIndex() const { return pending_.snapshot.meta.index + 1; }

uint64_t MemoryStorage::LastIndex() const {
  return pending_.snapshot.meta.index + pending_.entries.size();
}

absl::StatusOr<std::vector<Entry>> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                          uint64_t max_bytes) const {
  if (lo < FirstIndex()) return absl::OutOfRangeError(absl::StrCat("index ", lo, " compacted"));
  if (hi > LastIndex() + 1 || lo > hi) {
    return absl::NotFoundError(
        absl::StrCat("entries [", lo, ",", hi, ") past last index ", LastIndex()));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const Entry& e = pending_.entries[i - FirstIndex()];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::Term(uint64_t index) const {
  const uint64_t snap = pending_.snapshot.meta.index;
  if (index < snap) return absl::OutOfRangeError(absl::StrCat("index ", index, " compacted"));
  if (index == snap) return pending_.snapshot.meta.term;
  if (index > LastIndex()) return absl::NotFoundError(absl::StrCat("index ", index, " past end"));
  return pending_.entries[index - snap - 1].term;
}

absl::StatusOr<Snapshot> MemoryStorage::GetSnapshot() const { return pending_.snapshot; }

absl::Status MemoryStorage::Append(absl::Span<const Entry> entries) {
  if (entries.empty()) return absl::OkStatus();
  const uint64_t first = entries.front().index;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != first + i) return absl::InvalidArgumentError("entries not contiguous");
  }
  if (first > LastIndex() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("append at ", first, " leaves a gap after last index ", LastIndex()));
  }
  // Entries already covered by the snapshot are skipped, not an error: they
  // are committed and identical by Raft's log matching property.
  size_t skip = first < FirstIndex() ? FirstIndex() - first : 0;
  if (skip >= entries.size()) return absl::OkStatus();
  const uint64_t start = first + skip;
  pending_.entries.resize(start - FirstIndex());
  lowest_unsynced_ = std::min(lowest_unsynced_, start);
  pending_.entries.insert(pending_.entries.end(), entries.begin() + skip, entries.end());
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status MemoryStorage::SetHardState(const HardState& state) {
  pending_.hard_state = state;
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status MemoryStorage::SetConfState(const ConfState& conf) {
  pending_.conf_state = conf;
  dirty_ = true;
  return absl::OkStatus();
}

void MemoryStorage::DropUnsynced() {
  pending_ = durable_;
  snapshot_changed_ = false;
  lowest_unsynced_ = UINT64_MAX;
  dirty_ = false;
}

absl::Status MemoryStorage::ApplySnapshot(const Snapshot& snapshot) {
  if (snapshot.meta.index < pending_.snapshot.meta.index) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot ", snapshot.meta.index, " older than ", pending_.snapshot.meta.index));
  }
  auto term = Term(snapshot.meta.index);
  if (term.ok() && *term == snapshot.meta.term) {
    // The log agrees with the snapshot: keep the entries that follow it.
    pending_.entries.erase(pending_.entries.begin(),
                           pending_.entries.begin() +
                               static_cast<std::ptrdiff_t>(snapshot.meta.index - FirstIndex() + 1));
  } else {
    pending_.entries.clear();
  }
  pending_.snapshot = snapshot;
  pending_.conf_state = snapshot.meta.conf;
  snapshot_changed_ = true;
  pending_.hard_state.commit = std::max(pending_.hard_state.commit, snapshot.meta.index);
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status MemoryStorage::Compact(uint64_t index, std::string data, const ConfState& conf) {
  if (index <= pending_.snapshot.meta.index) return absl::OkStatus();
  if (index > LastIndex()) {
    return absl::InvalidArgumentError(
        absl::StrCat("compact at ", index, " past last index ", LastIndex()));
  }
  auto term = Term(index);
  if (!term.ok()) return term.status();
  pending_.entries.erase(
      pending_.entries.begin(),
      pending_.entries.begin() + static_cast<std::ptrdiff_t>(index - FirstIndex() + 1));
  pending_.snapshot.meta = SnapshotMeta{index, *term, conf};
  pending_.snapshot.data = std::move(data);
  snapshot_changed_ = true;
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status MemoryStorage::Sync() {
  if (snapshot_changed_) {
    durable_ = pending_;
  } else {
    // Copy only what changed since the last sync: the log is usually long and
    // the unsynced tail short.
    durable_.hard_state = pending_.hard_state;
    durable_.conf_state = pending_.conf_state;
    const uint64_t first = FirstIndex();
    const uint64_t from = std::max(lowest_unsynced_, first);
    const uint64_t keep = std::min<uint64_t>(from - first, durable_.entries.size());
    durable_.entries.resize(keep);
    if (first + keep <= LastIndex()) {
      durable_.entries.insert(durable_.entries.end(),
                              pending_.entries.begin() + static_cast<std::ptrdiff_t>(keep),
                              pending_.entries.end());
    }
  }
  snapshot_changed_ = false;
  lowest_unsynced_ = UINT64_MAX;
  ++sync_count_;
  dirty_ = false;
  return absl::OkStatus();
}

}  // namespace proglog::raft
