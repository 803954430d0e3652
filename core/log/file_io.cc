#include "core/log/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace proglog::log::internal {

absl::Status FileError(int err, std::string_view what, const std::filesystem::path& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(std::string(what), " ", path.string()));
}

absl::Status PwriteAll(int fd, std::string_view data, uint64_t pos,
                       const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "write", path);
    }
    if (n == 0) return FileError(ENOSPC, "write", path);
    data.remove_prefix(static_cast<size_t>(n));
    pos += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> PreadUpTo(int fd, char* buf, size_t n, uint64_t pos,
                                 const std::filesystem::path& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "read", path);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

absl::Status SyncData(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) return FileError(errno, "fdatasync", path);
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::filesystem::path& dir) {
  absl::StatusOr<FileDescriptor> fd = OpenFile(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  if (::fsync(fd->Get()) != 0) return FileError(errno, "fsync", dir);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, const std::filesystem::path& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FileError(errno, "stat", path);
  return static_cast<uint64_t>(st.st_size);
}

absl::Status TruncateFile(int fd, uint64_t size, const std::filesystem::path& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return FileError(errno, "truncate", path);
  return absl::OkStatus();
}

absl::Status ReserveFile(int fd, uint64_t size, const std::filesystem::path& path) {
  if (size == 0) return absl::OkStatus();
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err == 0) return absl::OkStatus();
  if (err != EOPNOTSUPP && err != EINVAL) return FileError(err, "allocate", path);
  // File systems without fallocate: extend only (writes may then fail late).
  absl::StatusOr<uint64_t> current = FileSize(fd, path);
  if (!current.ok()) return current.status();
  if (*current >= size) return absl::OkStatus();
  return TruncateFile(fd, size, path);
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.Release();
  }
  return *this;
}

void FileDescriptor::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<FileDescriptor> OpenFile(const std::filesystem::path& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return FileError(errno, "open", path);
  return FileDescriptor(fd);
}

}  // namespace proglog::log::internal
