// The log's last durable point: an offset below which every record is known to
// have been fsynced. Recovery needs it to tell a torn tail from corruption.
//
// Why a separate record of it: appends reach the store through a memory mapping
// (or a write that a kill can interrupt mid-copy), and the kernel writes an
// unsynced tail back page by page in no particular order. After a crash the
// tail can therefore be damaged anywhere, with intact frames after the damage,
// so the shape of the bytes alone cannot say whether damage is a torn tail or
// rot in acknowledged data. The durable point can: damage at or after it is a
// torn tail (cut off), damage before it is DataLoss (the node refuses to start).
//
// On disk: `<log dir>/DURABLE`, 16 bytes: the magic "PGDP", the offset (u64,
// little-endian) and a CRC32C of the first 12 bytes. It is rewritten in place
// (one sector, so the write is atomic on real disks; the checksum catches the
// rest) after each fsync of the store, and only ever names offsets whose
// records were synced *before* the write was issued, so it can lag the truth
// but never lead it. Raising it costs a pwrite and no fsync: the kernel writes
// it back on its own (writeback is started at most every 100 ms), and a
// lagging value only widens the region treated as a torn tail. Lowering it
// (before a suffix of the log is removed) is fsynced first, because records
// written after the cut must not be mistaken for durable ones.
//
// Thread-safety: every method is thread-safe (one internal leaf mutex).
#ifndef PROGLOG_CORE_LOG_DURABLE_POINT_H_
#define PROGLOG_CORE_LOG_DURABLE_POINT_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/log/file_io.h"

namespace proglog::log::internal {

class DurablePoint {
 public:
  static constexpr std::string_view kFileName = "DURABLE";

  // Reads the point recorded in `dir`: std::nullopt when there is no file (a
  // log written before the file existed) or its checksum fails (logged).
  static absl::StatusOr<std::optional<uint64_t>> Read(const std::filesystem::path& dir);

  // Opens (creating) the file and records `offset` durably.
  static absl::StatusOr<std::unique_ptr<DurablePoint>> Open(const std::filesystem::path& dir,
                                                            uint64_t offset);

  // An opaque counter that Lower() advances: a caller that read it before an
  // fsync passes it to Raise() so a cut made meanwhile is never undone.
  uint64_t Epoch() const;
  // Records that every record below `offset` is durable. Ignored when `offset`
  // is not above the current point or Lower() ran since `epoch` was read.
  absl::Status Raise(uint64_t offset, uint64_t epoch);
  // Moves the point down to `offset` (if above it) and fsyncs the file.
  absl::Status Lower(uint64_t offset);
  // Fsyncs the current point (on close).
  absl::Status Sync();

  uint64_t Offset() const;

 private:
  DurablePoint(std::filesystem::path path, FileDescriptor fd, uint64_t offset)
      : path_(std::move(path)), fd_(std::move(fd)), offset_(offset) {}
  absl::Status Write(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::filesystem::path path_;
  const FileDescriptor fd_;
  mutable absl::Mutex mu_;
  uint64_t offset_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point last_writeback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_DURABLE_POINT_H_
