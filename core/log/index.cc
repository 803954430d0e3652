#include "core/log/index.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>

#include "core/log/record_format.h"

namespace proglog::log::internal {

absl::StatusOr<std::unique_ptr<Index>> Index::Open(const std::filesystem::path& path,
                                                   uint64_t capacity) {
  absl::StatusOr<FileDescriptor> fd = OpenFile(path, O_RDWR | O_CREAT);
  if (!fd.ok()) return fd.status();
  const uint64_t bytes = capacity * kEntryBytes;
  absl::StatusOr<uint64_t> size = FileSize(fd->Get(), path);
  if (!size.ok()) return size.status();
  if (*size > bytes) {
    if (absl::Status s = TruncateFile(fd->Get(), bytes, path); !s.ok()) return s;
  }
  // Reserve blocks up front: a write through the mapping into a hole on a
  // full disk would be a SIGBUS instead of an error.
  if (absl::Status s = ReserveFile(fd->Get(), bytes, path); !s.ok()) return s;
  char* base = nullptr;
  if (bytes > 0) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd->Get(), 0);
    if (p == MAP_FAILED) return FileError(errno, "mmap", path);
    base = static_cast<char*>(p);
  }
  return std::unique_ptr<Index>(new Index(path, std::move(*fd), base, capacity));
}

Index::~Index() { Unmap(); }

void Index::Unmap() {
  if (base_ != nullptr) ::munmap(base_, capacity_ * kEntryBytes);
  base_ = nullptr;
}

void Index::Set(uint64_t rel, uint64_t pos) {
  char* p = base_ + rel * kEntryBytes;
  PutFixed32(p, static_cast<uint32_t>(rel));
  PutFixed64(p + 4, pos);
}

uint64_t Index::Position(uint64_t rel) const { return GetFixed64(base_ + rel * kEntryBytes + 4); }

bool Index::Holds(uint64_t rel, uint64_t pos) const {
  const char* p = base_ + rel * kEntryBytes;
  return GetFixed32(p) == static_cast<uint32_t>(rel) && GetFixed64(p + 4) == pos;
}

void Index::ReleaseMemory() {
  // Safe on a shared file mapping: nothing is lost, dirty pages stay dirty
  // in the page cache. Failure only means the pages stay resident.
  if (base_ != nullptr) ::madvise(base_, capacity_ * kEntryBytes, MADV_DONTNEED);
}

absl::Status Index::Trim(uint64_t entries) {
  Unmap();
  return TruncateFile(fd_.Get(), entries * kEntryBytes, path_);
}

}  // namespace proglog::log::internal
