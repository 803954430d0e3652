// A store file: the records of one segment, framed as in record_format.h and
// appended back to back. Append/Truncate/Sync belong to the single writer;
// Read and Size may run on any thread at the same time as the writer (reads use
// pread and never take a lock).
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
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::filesystem::path& path);

  struct ScanResult {
    std::vector<uint64_t> positions;  // byte position of each intact record, in order
    uint64_t valid_bytes = 0;         // end of the last intact record
    uint64_t file_bytes = 0;
  };
  // Checks every record from the start. A damaged or partial record at the
  // tail (nothing but zeros, or the end of the file, after it) ends the scan
  // and shows as valid_bytes < file_bytes; damage followed by more data, or a
  // record whose stored offset is not base_offset + its index, is DataLoss
  // naming the file and byte position.
  absl::StatusOr<ScanResult> Scan(uint64_t base_offset) const;

  // Writer only. Writes `frames` at the end; on failure (e.g. ENOSPC) the file
  // is cut back to its previous size so it stays consistent.
  absl::Status Append(std::string_view frames);
  absl::Status Truncate(uint64_t size);
  absl::Status Sync() const;

  // Reads the record framed at `pos`, which must carry `offset`.
  absl::StatusOr<Record> Read(uint64_t pos, uint64_t offset) const;

  uint64_t Size() const { return size_.load(std::memory_order_acquire); }
  const std::filesystem::path& path() const { return path_; }

 private:
  Store(std::filesystem::path path, FileDescriptor fd, uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}

  absl::Status Corrupt(uint64_t pos, std::string_view why) const;

  const std::filesystem::path path_;
  const FileDescriptor fd_;
  std::atomic<uint64_t> size_;
};

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_STORE_H_
