// core/log: proglog's storage engine. A Log is a directory of segments, each a
// store file (length-prefixed, CRC32C-checked records) and a memory-mapped index
// (relative offset -> store position). Offsets are dense and start at the log's
// initial offset. One writer and many readers run concurrently; readers never
// wait for an fsync. Appends are made durable by group commit.
//
// On disk: <base>.store and <base>.index per segment, base offset zero-padded to
// 20 digits, a LOCK file (flock) that keeps a second Log, in this process
// or another, from opening the directory, and DURABLE, the last durable point
// that tells a torn tail from corruption on recovery (durable_point.h). While open, the last
// segment's files are larger than their contents (space reserved ahead, so a full disk shows up as
// ResourceExhausted from Append); Close, and rolling to a new segment, cut them to size. Record
// layout: see record_format.h.
//
// Thread-safety: every public method of Log is thread-safe. The Log must
// outlive every call into it (Close does not wait for callers still inside
// Append; they get FailedPrecondition or their result).
#ifndef PROGLOG_CORE_LOG_LOG_H_
#define PROGLOG_CORE_LOG_LOG_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/telemetry/metrics.h"

namespace proglog::log {

// When appended bytes reach the disk.
struct Durability {
  enum class Mode { kAlways, kInterval, kNever };
  // kAlways: Append returns only after its bytes are fsynced (group commit).
  // kInterval: a background flusher fsyncs every `interval`; Append does not wait.
  // kNever: the OS decides; Close still fsyncs.
  Mode mode = Mode::kAlways;
  std::chrono::milliseconds interval{0};

  // Parses "always", "never" or "interval:<ms>" (ms > 0); InvalidArgument otherwise.
  static absl::StatusOr<Durability> Parse(std::string_view text);
  std::string ToString() const;
};

struct Options {
  // A segment rolls when its store or its index would pass these sizes.
  uint64_t max_store_bytes = 64ull << 20;
  uint64_t max_index_bytes = 1ull << 20;
  // Largest record value accepted; larger appends fail with InvalidArgument.
  uint64_t max_record_bytes = 1ull << 20;
  // Offset of the first record of an empty log.
  uint64_t initial_offset = 0;
  // Retention, applied by EnforceRetention(): whole oldest segments are removed
  // while the log is over `retention_bytes` (0 = unlimited) or their newest record
  // is older than `retention_age` (0 = unlimited). The active segment is never removed.
  uint64_t retention_bytes = 0;
  std::chrono::seconds retention_age{0};
  Durability durability;
  // Where the log records its histograms (proglog_log_fsync_seconds,
  // proglog_log_records_per_fsync); borrowed, must outlive the log. A node
  // sets its own registry. Null: the process's default registry.
  telemetry::Registry* metrics = nullptr;
};

// One record as stored. The log keeps `term` and `type` without reading them:
// the Raft log stores an entry's term and kind there (core/raft/entry_record.h),
// a single node's log 0 and the producer's Record.type. Left 0 they cost nothing.
struct Record {
  std::string value;
  uint64_t offset = 0;
  uint64_t term = 0;
  uint32_t type = 0;
};

// Error conventions:
//   InvalidArgument    oversized value, bad options (an empty value is a record)
//   OutOfRange         Read of an offset below LowestOffset() or at/after NextOffset()
//   ResourceExhausted  the disk is full; nothing acknowledged is lost and reads keep working
//   DataLoss           a corrupt file on open; the message names the file and byte position
//   FailedPrecondition the log is closed
class Log {
 public:
  // Opens (creating if needed) the log in `dir`, recovering from an unclean shutdown:
  // damage at or after the last durable point is a torn tail, truncated (logged with
  // the number of bytes dropped); an index that disagrees with its store is rebuilt;
  // damage below the durable point, or in a segment before the last, is DataLoss.
  static absl::StatusOr<std::unique_ptr<Log>> Open(const std::filesystem::path& dir,
                                                   Options options);
  virtual ~Log() = default;

  // Appends one record (its `offset` is ignored) and returns its offset; with
  // Durability::kAlways it returns once the bytes are durable.
  virtual absl::StatusOr<uint64_t> Append(const Record& record) = 0;
  // Appends records atomically in order, sharing one fsync; returns the first offset.
  virtual absl::StatusOr<uint64_t> AppendBatch(std::span<const Record> records) = 0;

  // Reads an acknowledged record. Never blocks on the writer or on an fsync.
  virtual absl::StatusOr<Record> Read(uint64_t offset) const = 0;

  // Offsets of the first record kept and of the next record to be appended
  // (equal when the log is empty). Only offsets in [Lowest, Next) are readable.
  virtual uint64_t LowestOffset() const = 0;
  virtual uint64_t NextOffset() const = 0;

  // Removes whole segments whose records are all below `lowest`.
  virtual absl::Status Truncate(uint64_t lowest) = 0;
  // Applies the retention options now; returns how many segments were removed.
  virtual absl::StatusOr<int> EnforceRetention() = 0;

  // Calls `ready` once when `offset` becomes readable (at once, on the caller's
  // thread, if it already is; otherwise on the appending thread after the append
  // is acknowledged). `ready` must not block. Returns an id for CancelWait.
  virtual uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) = 0;
  // Drops a pending wait; returns false if it already fired or never existed.
  virtual bool CancelWait(uint64_t id) = 0;

  // Total bytes of all store files.
  virtual uint64_t SizeBytes() const = 0;

  // Removes every record at `from` and after, so that NextOffset() becomes
  // `from` (the replication layer drops uncommitted entries with it). Requires
  // LowestOffset() <= from; a `from` at or past NextOffset() changes nothing.
  // Readers racing with it see either the old record or OutOfRange.
  virtual absl::Status TruncateSuffix(uint64_t /*from*/) {
    return absl::UnimplementedError("TruncateSuffix");
  }

  // Reads consecutive acknowledged records from `offset`: at least one (or the
  // error Read would give for `offset`), then more while fewer than
  // `max_records` and their values total at most `max_bytes`. Never blocks.
  virtual absl::StatusOr<std::vector<Record>> ReadRange(uint64_t offset, size_t max_records,
                                                        size_t max_bytes) const;

  // The files behind the log, oldest first, for copying whole segments (a
  // snapshot path). A segment's files only change while it is the last one.
  struct SegmentInfo {
    uint64_t base_offset = 0;
    uint64_t next_offset = 0;
    uint64_t store_bytes = 0;
    std::filesystem::path store_path;
    std::filesystem::path index_path;
  };
  virtual std::vector<SegmentInfo> Segments() const { return {}; }

  // Counters since Open, for benchmarks, metrics and tests.
  struct Stats {
    uint64_t appends = 0;             // acknowledged Append/AppendBatch calls
    uint64_t records = 0;             // acknowledged records
    uint64_t bytes = 0;               // value bytes of the acknowledged records
    uint64_t groups = 0;              // group commits: fsyncs that acknowledged appends
    uint64_t syncs = 0;               // fdatasync calls on store files, for any reason
    uint64_t queued = 0;              // appends written, waiting for their fsync now
    uint64_t torn_bytes_dropped = 0;  // cut from a torn tail on Open
  };
  virtual Stats GetStats() const { return {}; }

  // Fsyncs, trims the active index to its used size and closes the files. Pending
  // waits are dropped without firing. Further calls fail with FailedPrecondition.
  virtual absl::Status Close() = 0;
};

// Iterates the whole log in offset order from a starting offset, a batch of
// reads at a time; records appended later are returned by later calls. Not
// thread-safe itself (one per consumer); the Log must outlive it.
class LogReader {
 public:
  explicit LogReader(const Log& log, uint64_t from = 0) : log_(log), next_(from) {}

  // The next record; std::nullopt when caught up with NextOffset(). If records
  // below `from` were removed, it skips ahead to LowestOffset().
  absl::StatusOr<std::optional<Record>> Next();
  uint64_t NextOffset() const { return next_; }

 private:
  const Log& log_;
  uint64_t next_;
  std::vector<Record> batch_;
  size_t batch_pos_ = 0;
};

}  // namespace proglog::log

#endif  // PROGLOG_CORE_LOG_LOG_H_
