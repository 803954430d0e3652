// Thin wrappers over the POSIX file calls the storage engine uses, turning
// errno into absl::Status with the file named in the message (ENOSPC becomes
// ResourceExhausted). Stateless; thread-safe.
#ifndef PROGLOG_CORE_LOG_FILE_IO_H_
#define PROGLOG_CORE_LOG_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace proglog::log::internal {

// `what` names the operation ("write", "fsync", ...).
absl::Status FileError(int err, std::string_view what, const std::filesystem::path& path);

// Writes all of `data` at `pos`, retrying on short writes and EINTR.
absl::Status PwriteAll(int fd, std::string_view data, uint64_t pos,
                       const std::filesystem::path& path);
// Reads up to `n` bytes at `pos`; returns how many were read (fewer only at EOF).
absl::StatusOr<size_t> PreadUpTo(int fd, char* buf, size_t n, uint64_t pos,
                                 const std::filesystem::path& path);
absl::Status SyncData(int fd, const std::filesystem::path& path);
absl::Status SyncDirectory(const std::filesystem::path& dir);
absl::StatusOr<uint64_t> FileSize(int fd, const std::filesystem::path& path);
absl::Status TruncateFile(int fd, uint64_t size, const std::filesystem::path& path);
// Reserves blocks for [0, size) so later writes through a mapping cannot fail
// for lack of space (they would raise SIGBUS); extends the file to `size`.
absl::Status ReserveFile(int fd, uint64_t size, const std::filesystem::path& path);

// Owns a file descriptor.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.Release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { Reset(); }

  int Get() const { return fd_; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added.
absl::StatusOr<FileDescriptor> OpenFile(const std::filesystem::path& path, int flags,
                                        int mode = 0644);

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_FILE_IO_H_
