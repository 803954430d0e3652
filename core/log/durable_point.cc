#include "core/log/durable_point.h"

#include <fcntl.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/log/crc32c.h"
#include "core/log/record_format.h"
#include "spdlog/spdlog.h"

namespace proglog::log::internal {
namespace {

constexpr char kMagic[4] = {'P', 'G', 'D', 'P'};
constexpr size_t kFileBytes = 16;
// Writeback of a raised point is started at most this often; between starts
// the kernel's own writeback (or the next start) carries it to the disk.
constexpr auto kWritebackInterval = std::chrono::milliseconds(100);

std::string Encode(uint64_t offset) {
  std::string buf(kFileBytes, '\0');
  std::memcpy(buf.data(), kMagic, sizeof(kMagic));
  PutFixed64(buf.data() + 4, offset);
  PutFixed32(buf.data() + 12, Crc32c(std::string_view(buf.data(), 12)));
  return buf;
}

}  // namespace

absl::StatusOr<std::optional<uint64_t>> DurablePoint::Read(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kFileName;
  absl::StatusOr<FileDescriptor> fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) return std::nullopt;
    return fd.status();
  }
  char buf[kFileBytes];
  absl::StatusOr<size_t> got = PreadUpTo(fd->Get(), buf, kFileBytes, 0, path);
  if (!got.ok()) return got.status();
  if (*got != kFileBytes || std::memcmp(buf, kMagic, sizeof(kMagic)) != 0 ||
      GetFixed32(buf + 12) != Crc32c(std::string_view(buf, 12))) {
    spdlog::warn("log: {} is damaged; the last durable point is unknown", path.string());
    return std::nullopt;
  }
  return GetFixed64(buf + 4);
}

absl::StatusOr<std::unique_ptr<DurablePoint>> DurablePoint::Open(const std::filesystem::path& dir,
                                                                 uint64_t offset) {
  const std::filesystem::path path = dir / kFileName;
  absl::StatusOr<FileDescriptor> fd = OpenFile(path, O_RDWR | O_CREAT);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<DurablePoint> point(new DurablePoint(path, *std::move(fd), offset));
  absl::MutexLock l(&point->mu_);
  if (absl::Status s = point->Write(offset); !s.ok()) return s;
  if (absl::Status s = SyncData(point->fd_.Get(), path); !s.ok()) return s;
  return point;
}

uint64_t DurablePoint::Epoch() const {
  absl::MutexLock l(&mu_);
  return epoch_;
}

uint64_t DurablePoint::Offset() const {
  absl::MutexLock l(&mu_);
  return offset_;
}

absl::Status DurablePoint::Write(uint64_t offset) {
  if (absl::Status s = PwriteAll(fd_.Get(), Encode(offset), 0, path_); !s.ok()) return s;
  offset_ = offset;
  return absl::OkStatus();
}

absl::Status DurablePoint::Raise(uint64_t offset, uint64_t epoch) {
  absl::MutexLock l(&mu_);
  if (epoch != epoch_ || offset <= offset_) return absl::OkStatus();
  if (absl::Status s = Write(offset); !s.ok()) return s;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_writeback_ >= kWritebackInterval) {
    last_writeback_ = now;
    // Starts the write-out without waiting for it: the point only has to
    // reach the disk eventually, and sooner narrows the torn-tail region.
    ::sync_file_range(fd_.Get(), 0, kFileBytes, SYNC_FILE_RANGE_WRITE);
  }
  return absl::OkStatus();
}

absl::Status DurablePoint::Lower(uint64_t offset) {
  absl::MutexLock l(&mu_);
  ++epoch_;
  if (offset >= offset_) return absl::OkStatus();
  if (absl::Status s = Write(offset); !s.ok()) return s;
  return SyncData(fd_.Get(), path_);
}

absl::Status DurablePoint::Sync() {
  absl::MutexLock l(&mu_);
  return SyncData(fd_.Get(), path_);
}

}  // namespace proglog::log::internal
