// core/raft/log_storage.h: raft::Storage on disk, backed by the segmented log.
// The Raft log is the data log: each entry is one core/log record (layout in
// entry_record.h; record offset = Raft index - 1), and nothing keeps a second
// copy. Three pieces live in one directory:
//
//   <dir>/log/       the entries, a core/log Log
//   <dir>/state      hard state (term, vote, commit) and membership (ConfState)
//   <dir>/snapshot   snapshot metadata: "the log starts after index N, term T,
//                    membership C", plus the state machine's few bytes of data
//
// The two small files are replaced atomically and checksummed (state_file.h);
// a damaged one fails Open with DataLoss. A snapshot never copies records:
// Compact only moves the snapshot point and removes whole segments below it.
//
// Durability (one fsync of the log per batch):
//   - Append writes the batch with one Log::AppendBatch on a Log opened with
//     the options' durability (core/log has no separate sync call). With
//     Durability::kAlways, the default, it returns once the batch is fsynced,
//     so an appended entry is durable before Sync(). With kNever or kInterval
//     an entry this node acknowledged may be lost if its machine crashes (a
//     killed process loses nothing: the bytes are in the page cache), so a
//     crash of a majority's machines at once can lose committed entries; the
//     operator chose that for speed, as with --fsync on a single node.
//     Replacing a suffix first cuts it with Log::TruncateSuffix, which is
//     durable before the new entries are written, whatever the durability.
//   - SetHardState/SetConfState only update memory; Sync() rewrites the state
//     file when the term, vote or membership changed. A change of the commit
//     index alone is not worth two fsyncs per batch: it is written with the
//     next state-file write or by Close(). A crash can then bring back an older
//     commit index, which Raft allows (the commit index may always be learned
//     again from the leader; it never exceeds what is durable in the log).
//   - ApplySnapshot and Compact write the snapshot file (then the state file)
//     before they drop any entry, so a crash never leaves a log that starts
//     after what the snapshot covers.
//
// Open reconciles the pieces after a crash: a log that disagrees with the
// snapshot (it does not reach the snapshot index, or holds another term there;
// a crash inside ApplySnapshot) is discarded and restarted after the snapshot.
//
// Thread-safety: like every Storage, used by one driver thread (REQUIRES:
// external synchronization), except SharedLog(), which is thread-safe so that
// readers (the gRPC service) can read committed records concurrently; the Log
// itself is thread-safe.
#ifndef PROGLOG_CORE_RAFT_LOG_STORAGE_H_
#define PROGLOG_CORE_RAFT_LOG_STORAGE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/log/log.h"
#include "core/raft/offset_translator.h"
#include "core/raft/state_file.h"
#include "core/raft/storage.h"
#include "core/raft/types.h"

namespace proglog::raft {

struct LogStorageOptions {
  // Options of the entry log (segment sizes, largest entry, durability: see
  // above). `initial_offset` is set by LogStorage (the snapshot index) and
  // ignored here. Retention options are not applied: entries are removed only
  // by Compact/ApplySnapshot.
  log::Options log;
};

class LogStorage final : public Storage {
 public:
  // Opens (creating if needed) the storage in `dir`. `bootstrap` is the
  // membership of a brand-new node (no state file yet; may be empty for a node
  // that joins later as a learner) and is ignored otherwise.
  // DataLoss if a state or snapshot file is damaged, or if the log starts
  // after the snapshot (entries are missing).
  static absl::StatusOr<std::unique_ptr<LogStorage>> Open(const std::filesystem::path& dir,
                                                          LogStorageOptions options,
                                                          ConfState bootstrap = {});
  // Closes if not yet closed (errors are logged, not returned: call Close()).
  ~LogStorage() override;
  LogStorage(const LogStorage&) = delete;
  LogStorage& operator=(const LogStorage&) = delete;

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
  // When the log disagrees with `snapshot`, the Log object is replaced by a
  // new, empty one starting at snapshot index + 1 (see SharedLog()); if that
  // fails, the storage closes itself and the next Open completes the reset.
  absl::Status ApplySnapshot(const Snapshot& snapshot) override;
  // Moves the snapshot point to `index` and removes the log's whole segments
  // that lie entirely at or below it (Log::Truncate); entries of the segment
  // holding `index` stay on disk but are no longer served.
  absl::Status Compact(uint64_t index, std::string data, const ConfState& conf) override;
  absl::Status Sync() override;

  // Writes a pending commit index (best effort: a failure to write only the
  // commit index is not an error, since Raft learns it again) and closes the log. Later calls fail
  // with FailedPrecondition (reads included).
  absl::Status Close();

  // The entry log, for reading committed records concurrently with the driver
  // (record offset = Raft index - 1; decode with RecordToEntry). Thread-safe.
  // Only ApplySnapshot of a disagreeing snapshot replaces the Log: the old one
  // is closed, so a holder sees FailedPrecondition and calls SharedLog() again.
  // Hold the pointer for a read or a batch, not for the life of a stream.
  std::shared_ptr<log::Log> SharedLog() const ABSL_LOCKS_EXCLUDED(log_mu_);

  // Rebuilds the translator from Raft indexes to user offsets: it starts after
  // the snapshot (next index = snapshot index + 1, next user offset
  // `next_offset`, which the state machine keeps in the snapshot's data) and
  // records the type of every entry up to `through` (<= LastIndex(); usually
  // the commit index). It reads each of those entries once, so its cost grows
  // with the entries since the last snapshot; Compact bounds it.
  // InvalidArgument if `through` is past LastIndex().
  absl::StatusOr<OffsetTranslator> BuildOffsetTranslator(uint64_t next_offset,
                                                         uint64_t through) const;

 private:
  LogStorage(std::filesystem::path dir, LogStorageOptions options);

  absl::Status Init(ConfState bootstrap);
  absl::StatusOr<std::shared_ptr<log::Log>> OpenLog(uint64_t initial_offset) const;
  // Replaces the log by an empty one whose first entry will be `snapshot_index`
  // + 1. On failure the storage is left closed (Open repairs the directory).
  absl::Status ResetLog(uint64_t snapshot_index);
  absl::Status ReplaceLog(uint64_t snapshot_index);
  absl::Status WriteState();
  absl::Status CheckOpen() const;

  const std::filesystem::path dir_;
  const LogStorageOptions options_;
  const StateFile state_file_;
  const StateFile snapshot_file_;

  // Written only by the driver thread (which reads it without the lock);
  // SharedLog() copies it under the lock.
  mutable absl::Mutex log_mu_;
  std::shared_ptr<log::Log> log_ ABSL_GUARDED_BY(log_mu_);
  log::Log* log_raw_ = nullptr;  // == log_.get(), for the driver thread

  PersistentState state_;      // what Sync() makes durable
  Snapshot snapshot_;          // as in the snapshot file
  uint64_t last_term_ = 0;     // term of LastIndex()
  bool state_dirty_ = false;   // term, vote or membership changed since the last write
  bool commit_dirty_ = false;  // only the commit index changed since the last write
  bool closed_ = false;
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_LOG_STORAGE_H_
