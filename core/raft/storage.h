// core/raft/storage.h: the stable storage Raft is backed by. The segmented log
// (core/log) will implement it, because in proglog the Raft log *is* the data
// log: entries are stored once, and a snapshot is only "everything up to index
// N" plus a little state. MemoryStorage implements it in memory, with an
// explicit Sync() so simulations can lose unsynced writes in a crash.
//
// Thread-safety: Storage implementations are used by one driver thread at a
// time (REQUIRES: external synchronization); MemoryStorage is not thread-safe.
#ifndef PROGLOG_CORE_RAFT_STORAGE_H_
#define PROGLOG_CORE_RAFT_STORAGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/raft/types.h"

namespace proglog::raft {

// What a node finds on disk when it starts.
struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

// Error conventions for reads:
//   OutOfRange    the index was compacted into the snapshot (below FirstIndex())
//   NotFound      the index is past LastIndex()
class Storage {
 public:
  virtual ~Storage() = default;

  // ---- Read side, used by the Raft core. ----
  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;
  // Entries [lo, hi), stopping early once `max_bytes` of data is reached (at
  // least one entry is returned when lo < hi).
  virtual absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const = 0;
  // Term of entry `index`; valid for FirstIndex()-1 (the snapshot's) .. LastIndex().
  virtual absl::StatusOr<uint64_t> Term(uint64_t index) const = 0;
  // First index still held as an entry (snapshot index + 1).
  virtual uint64_t FirstIndex() const = 0;
  // Last index held (the snapshot's index when no entry follows it).
  virtual uint64_t LastIndex() const = 0;
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;

  // ---- Write side, used by the runtime driving the core. ----
  // Appends entries; an entry whose index is already held replaces it and
  // everything after it (the core only ever replaces uncommitted entries).
  // InvalidArgument if the entries would leave a gap.
  virtual absl::Status Append(absl::Span<const Entry> entries) = 0;
  virtual absl::Status SetHardState(const HardState& state) = 0;
  virtual absl::Status SetConfState(const ConfState& conf) = 0;
  // Installs a snapshot received from the leader, dropping every entry it covers
  // (or the whole log if the log disagrees with it).
  virtual absl::Status ApplySnapshot(const Snapshot& snapshot) = 0;
  // Records a local snapshot of the state machine at `index` (<= applied) and
  // drops entries before it: log compaction / retention.
  virtual absl::Status Compact(uint64_t index, std::string data, const ConfState& conf) = 0;
  // Makes every earlier write durable (one fsync for a whole batch: group commit).
  virtual absl::Status Sync() = 0;
};

// In-memory Storage. Writes land in a pending image and reach the durable image
// only on Sync(); DropUnsynced() models a crash by throwing the pending image away.
class MemoryStorage final : public Storage {
 public:
  // A fresh node: empty log, bootstrap membership `conf` (may be empty for a
  // node that joins later as a learner).
  explicit MemoryStorage(ConfState conf = {});

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                             uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t index) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  absl::Status Append(absl::Span<const Entry> entries) override;
  absl::Status SetHardState(const HardState& state) override;
  absl::Status SetConfState(const ConfState& conf) override;
  absl::Status ApplySnapshot(const Snapshot& snapshot) override;
  absl::Status Compact(uint64_t index, std::string data, const ConfState& conf) override;
  absl::Status Sync() override;

  // Crash: forget every write since the last Sync().
  void DropUnsynced();
  uint64_t SyncCount() const { return sync_count_; }
  bool HasUnsynced() const { return dirty_; }
  // The hard state as of the last Sync() (what a crash would keep).
  const HardState& DurableHardState() const { return durable_.hard_state; }

 private:
  struct Image {
    HardState hard_state;
    ConfState conf_state;
    Snapshot snapshot;           // meta.index/term anchor the log
    std::vector<Entry> entries;  // entries[0].index == snapshot.meta.index + 1
  };
  Image pending_;
  Image durable_;
  uint64_t sync_count_ = 0;
  bool dirty_ = false;
  // Since the last Sync(): whether the snapshot moved, and the lowest entry
  // index written, so Sync() copies only the changed tail.
  bool snapshot_changed_ = false;
  uint64_t lowest_unsynced_ = UINT64_MAX;
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_STORAGE_H_
