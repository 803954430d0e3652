// A store file: the records of one segment, framed as in record_format.h and
// appended back to back. Append/Truncate/Finish belong to the single writer;
// Read, Size and Sync may run on any thread at the same time as the writer
// (reads use pread and never take a lock).
//
// Appends copy into a memory-mapped window of the file rather than paying a
// write(2) per record. The space is first reserved with fallocate, a few MiB
// at a time, so a full disk is an error at Append time and never a SIGBUS or
// a failed writeback later. While the log is open the file may therefore end
// in reserved zeros; Finish cuts them off (on roll and on close), and after a
// crash recovery drops them as a zero-filled tail. On file systems without
// fallocate, appends fall back to pwrite.
#ifndef PROGLOG_CORE_LOG_STORE_H_
#define PROGLOG_CORE_LOG_STORE_H_

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/file_io.h"
#include "core/log/log.h"

namespace proglog::log::internal {

class Store {
 public:
  // How appends reach the file.
  enum class Writes {
    // Small appends are copied through a mapping of the reserved space: no
    // system call for most of them. For logs that do not fsync every append.
    kMapped,
    // Every append is a pwrite. When each append is followed by fdatasync
    // anyway the extra call is cheap, and it spares what mapped pages cost
    // there: fdatasync write-protects them again, so the next append to the
    // same page faults, and it has the mappings to walk.
    kPwrite,
  };
  // `reserve_hint`: how far ahead to reserve space (the segment's size limit).
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::filesystem::path& path,
                                                     uint64_t reserve_hint = 0,
                                                     Writes writes = Writes::kMapped);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  struct ScanResult {
    std::vector<uint64_t> positions;  // byte position of each intact record, in order
    uint64_t valid_bytes = 0;         // end of the last intact record
    uint64_t file_bytes = 0;
    // End of the last non-zero byte after valid_bytes: [valid_bytes, data_end)
    // is a torn record, [data_end, file_bytes) zeros (e.g. reserved space).
    uint64_t data_end = 0;
  };
  // Checks every record from the start. The first damaged or partial record
  // (bad length, checksum or stored offset, or cut by the end of the file)
  // ends the scan and shows as valid_bytes < file_bytes when its offset is at
  // or after `durable_offset` (a torn tail, see durable_point.h), whatever
  // follows it; below `durable_offset` it is DataLoss naming the file and byte.
  absl::StatusOr<ScanResult> Scan(uint64_t base_offset, uint64_t durable_offset) const;

  // Writer only. Writes `frames` at the end; on failure (e.g. ENOSPC) nothing
  // of them stays in the file.
  absl::Status Append(std::string_view frames);
  // Writer only. Cuts the records at `size` and after.
  absl::Status Truncate(uint64_t size);
  // Writer only. Unmaps the window and cuts reserved space past the records,
  // so the file holds exactly its records. Appending later is still allowed.
  absl::Status Finish();
  absl::Status Sync() const;

  // Reads the record framed at `pos`, which must carry `offset`.
  absl::StatusOr<Record> Read(uint64_t pos, uint64_t offset) const;
  // Reads `count` consecutive records framed in [pos, end), the first carrying
  // `offset`, with one pread, appending them to `out`. Each is checked as Read
  // checks one.
  absl::Status ReadFrames(uint64_t pos, uint64_t end, uint64_t offset, size_t count,
                          std::vector<Record>* out) const;

  uint64_t Size() const { return size_.load(std::memory_order_acquire); }
  const std::filesystem::path& Path() const { return path_; }

 private:
  Store(std::filesystem::path path, FileDescriptor fd, uint64_t size, uint64_t reserve_hint,
        Writes writes)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        size_(size),
        reserved_(size),
        reserve_hint_(reserve_hint),
        writes_(writes) {}

  absl::Status Corrupt(uint64_t pos, std::string_view why) const;
  // Makes the file at least `end` bytes long with blocks allocated.
  absl::Status Reserve(uint64_t end);
  absl::Status CopyToFile(uint64_t pos, std::string_view data);
  void Unmap();
  absl::Status AppendWithPwrite(uint64_t pos, std::string_view frames);

  const std::filesystem::path path_;
  const FileDescriptor fd_;
  std::atomic<uint64_t> size_;  // bytes of records

  // Writer state.
  uint64_t reserved_;  // file size: records plus reserved zeros
  const uint64_t reserve_hint_;
  const Writes writes_;
  // Space is reserved ahead (fallocate) and appends write into it. False once
  // fallocate proved unsupported: then each append extends the file with a
  // pwrite, cut back on failure (AppendWithPwrite), whatever writes_ says.
  bool reserves_space_ = true;
  char* window_ = nullptr;  // kWindowBytes of the file from window_start_
  uint64_t window_start_ = 0;
};

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_STORE_H_
