#include "core/log/store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/log/crc32c.h"
#include "core/log/record_format.h"

namespace proglog::log::internal {
namespace {

// Appends write through a mapped window of this size (aligned to it).
constexpr uint64_t kWindowBytes = 4ull << 20;
// Space is reserved ahead by up to this much (bounded by the segment limit).
constexpr uint64_t kReserveAheadBytes = 4ull << 20;
constexpr uint64_t kPageBytes = 4096;
// Appends at least this large go through pwrite into the reserved space: copying
// them through the mapping costs a page fault per page, which a write does not.
constexpr uint64_t kLargeAppendBytes = 16ull * 1024;

// Sequential reads for Scan through one reusable buffer, so recovery costs a
// few large reads rather than two small ones per record.
class ChunkReader {
 public:
  ChunkReader(int fd, const std::filesystem::path& path, uint64_t file_bytes)
      : fd_(fd), path_(path), file_bytes_(file_bytes) {}

  // Up to `n` bytes at `pos` (fewer only at the end of the file).
  absl::StatusOr<std::string_view> Get(uint64_t pos, size_t n) {
    n = static_cast<size_t>(std::min<uint64_t>(n, file_bytes_ - pos));
    if (pos < start_ || pos + n > start_ + filled_) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(std::max(n, kChunk), file_bytes_ - pos));
      buf_.resize(want);
      absl::StatusOr<size_t> got = PreadUpTo(fd_, buf_.data(), want, pos, path_);
      if (!got.ok()) return got.status();
      start_ = pos;
      filled_ = *got;
      n = std::min(n, filled_);
    }
    return std::string_view(buf_.data() + (pos - start_), n);
  }

  // End of the last non-zero byte at or after `pos` (`pos` if all are zero).
  absl::StatusOr<uint64_t> EndOfData(uint64_t pos) {
    uint64_t end = pos;
    while (pos < file_bytes_) {
      absl::StatusOr<std::string_view> chunk = Get(pos, kChunk);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      for (size_t i = chunk->size(); i > 0; --i) {
        if ((*chunk)[i - 1] != 0) {
          end = pos + i;
          break;
        }
      }
      pos += chunk->size();
    }
    return end;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  const int fd_;
  const std::filesystem::path& path_;
  const uint64_t file_bytes_;
  std::string buf_;
  uint64_t start_ = 0;
  size_t filled_ = 0;
};

// The buffer ReadFrames reads a run of frames into before it copies the
// values out: one per thread, kept between calls. A fresh buffer per call
// costs a streaming reader a mapping of its own (glibc maps large blocks
// anew), a fault and a cleared page for every 4 KiB, and a zero fill on top.
// Runs above kKeptBytes get a buffer of their own, freed on the next call, so
// an occasional huge read is not kept.
char* ReadScratch(size_t bytes) {
  constexpr size_t kKeptBytes = 2 << 20;  // a default ConsumeBatch (1 MiB) and its frames
  thread_local std::unique_ptr<char[]> buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity || capacity > kKeptBytes) {
    buffer.reset();
    capacity = std::max(bytes, std::min(2 * capacity, kKeptBytes));
    // Uninitialized: pread fills exactly the bytes that are used.
    buffer.reset(new char[capacity]);
  }
  return buffer.get();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                                   uint64_t reserve_hint, Writes writes) {
  absl::StatusOr<FileDescriptor> fd = OpenFile(path, O_RDWR | O_CREAT);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<uint64_t> size = FileSize(fd->Get(), path);
  if (!size.ok()) return size.status();
  return std::unique_ptr<Store>(new Store(path, std::move(*fd), *size, reserve_hint, writes));
}

Store::~Store() { Unmap(); }

void Store::Unmap() {
  if (window_ != nullptr) ::munmap(window_, kWindowBytes);
  window_ = nullptr;
}

absl::Status Store::Reserve(uint64_t end) {
  if (end <= reserved_) return absl::OkStatus();
  // Reserve ahead so that most appends make no system call at all.
  const uint64_t ahead =
      std::min(kReserveAheadBytes, std::max<uint64_t>(reserve_hint_, kPageBytes));
  uint64_t want = std::max(end, reserved_ + ahead);
  want = (want + kPageBytes - 1) / kPageBytes * kPageBytes;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int r;
    do {
      r = ::fallocate(fd_.Get(), 0, static_cast<off_t>(reserved_),
                      static_cast<off_t>(want - reserved_));
    } while (r != 0 && errno == EINTR);
    if (r == 0) {
      reserved_ = want;
      return absl::OkStatus();
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS) return absl::UnimplementedError("no fallocate");
    if (errno != ENOSPC || want == end) break;
    want = end;  // no room to reserve ahead: try for exactly what is needed
  }
  return FileError(errno, "allocate", path_);
}

absl::Status Store::CopyToFile(uint64_t pos, std::string_view data) {
  while (!data.empty()) {
    if (window_ == nullptr || pos < window_start_ || pos >= window_start_ + kWindowBytes) {
      Unmap();
      window_start_ = pos / kWindowBytes * kWindowBytes;
      // Pages past the end of the file are mapped but never touched: Reserve
      // extended the file over every byte written here.
      void* p = ::mmap(nullptr, kWindowBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.Get(),
                       static_cast<off_t>(window_start_));
      if (p == MAP_FAILED) return FileError(errno, "mmap", path_);
      window_ = static_cast<char*>(p);
    }
    const uint64_t n = std::min<uint64_t>(data.size(), window_start_ + kWindowBytes - pos);
    std::memcpy(window_ + (pos - window_start_), data.data(), n);
    data.remove_prefix(n);
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status Store::AppendWithPwrite(uint64_t pos, std::string_view frames) {
  absl::Status status = PwriteAll(fd_.Get(), frames, pos, path_);
  if (status.ok()) {
    reserved_ = std::max(reserved_, pos + frames.size());
    return status;
  }
  // Cut off any partial write so the file ends on a record boundary.
  absl::Status undo = TruncateFile(fd_.Get(), pos, path_);
  if (!undo.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), "; rollback failed: ", undo.message()));
  }
  reserved_ = pos;
  return status;
}

absl::Status Store::Finish() {
  Unmap();
  const uint64_t size = Size();
  if (reserved_ == size) return absl::OkStatus();
  if (absl::Status s = TruncateFile(fd_.Get(), size, path_); !s.ok()) return s;
  reserved_ = size;
  return absl::OkStatus();
}

absl::Status Store::Corrupt(uint64_t pos, std::string_view why) const {
  return absl::DataLossError(
      absl::StrCat("corrupt record in ", path_.string(), " at byte ", pos, ": ", std::string(why)));
}

absl::StatusOr<Store::ScanResult> Store::Scan(uint64_t base_offset, uint64_t durable_offset) const {
  ScanResult result;
  result.file_bytes = Size();
  ChunkReader reader(fd_.Get(), path_, result.file_bytes);
  uint64_t pos = 0;
  // The first bad frame ends the scan: a torn tail when its record was not yet
  // known to be durable, whatever follows it (an unsynced tail reaches the
  // disk page by page in any order), and DataLoss when it was.
  auto torn_or_corrupt = [&](std::string_view why) -> absl::Status {
    const uint64_t offset = base_offset + result.positions.size();
    if (offset >= durable_offset) return absl::OkStatus();
    return Corrupt(
        pos, absl::StrCat(std::string(why), " (record ", offset, ", which was already durable)"));
  };
  while (pos < result.file_bytes) {
    if (result.file_bytes - pos < kFrameHeaderBytes) {
      if (absl::Status s = torn_or_corrupt("partial header"); !s.ok()) return s;
      break;
    }
    absl::StatusOr<std::string_view> head = reader.Get(pos, kFrameHeaderBytes);
    if (!head.ok()) return head.status();
    const FrameHeader header = DecodeFrameHeader(*head);
    if (header.body_length < kBodyHeaderBytes) {
      if (absl::Status s = torn_or_corrupt("invalid length"); !s.ok()) return s;
      break;
    }
    const uint64_t end = pos + kFrameHeaderBytes + header.body_length;
    if (end > result.file_bytes) {
      if (absl::Status s = torn_or_corrupt("length runs past the end of the file"); !s.ok()) {
        return s;
      }
      break;
    }
    absl::StatusOr<std::string_view> body = reader.Get(pos + kFrameHeaderBytes, header.body_length);
    if (!body.ok()) return body.status();
    if (FrameCrc(header.body_length, *body) != header.crc) {
      if (absl::Status s = torn_or_corrupt("checksum mismatch"); !s.ok()) return s;
      break;
    }
    const uint64_t want = base_offset + result.positions.size();
    const uint64_t got = GetFixed64(body->data());
    if (got != want) {
      if (absl::Status s = torn_or_corrupt(absl::StrCat("holds offset ", got, ", expected ", want));
          !s.ok()) {
        return s;
      }
      break;
    }
    result.positions.push_back(pos);
    pos = end;
  }
  result.valid_bytes = pos;
  absl::StatusOr<uint64_t> data_end = reader.EndOfData(pos);
  if (!data_end.ok()) return data_end.status();
  result.data_end = *data_end;
  return result;
}

absl::Status Store::Append(std::string_view frames) {
  const uint64_t size = Size();
  absl::Status status;
  if (reserves_space_) {
    status = Reserve(size + frames.size());
    if (status.code() == absl::StatusCode::kUnimplemented) reserves_space_ = false;
  }
  if (!reserves_space_) {
    Unmap();
    status = AppendWithPwrite(size, frames);
  } else if (status.ok()) {
    // Into the reserved space, through the mapping or a pwrite (Writes).
    const bool pwrite = writes_ == Writes::kPwrite || frames.size() >= kLargeAppendBytes;
    status = pwrite ? PwriteAll(fd_.Get(), frames, size, path_) : CopyToFile(size, frames);
  }
  if (!status.ok()) return status;
  size_.store(size + frames.size(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Store::Truncate(uint64_t size) {
  // Pages of the window past the new end vanish with the truncation; the
  // window is remapped on the next append.
  Unmap();
  if (absl::Status s = TruncateFile(fd_.Get(), size, path_); !s.ok()) return s;
  reserved_ = size;
  size_.store(size, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Store::Sync() const { return SyncData(fd_.Get(), path_); }

absl::StatusOr<Record> Store::Read(uint64_t pos, uint64_t offset) const {
  // One pread covers small records; bigger values get a second, exact pread.
  constexpr size_t kFirstRead = 4096;
  char first[kFirstRead];
  absl::StatusOr<size_t> got = PreadUpTo(fd_.Get(), first, kFirstRead, pos, path_);
  if (!got.ok()) return got.status();
  if (*got < kRecordOverhead) return Corrupt(pos, "record cut short");
  const FrameHeader header = DecodeFrameHeader(std::string_view(first, kFrameHeaderBytes));
  if (header.body_length < kBodyHeaderBytes) return Corrupt(pos, "invalid length");
  const size_t frame_bytes = kFrameHeaderBytes + header.body_length;
  const std::string_view body_head(first + kFrameHeaderBytes, kBodyHeaderBytes);
  Record record = DecodeBody(body_head);
  uint32_t crc;
  if (frame_bytes <= *got) {
    const std::string_view body(first + kFrameHeaderBytes, header.body_length);
    record.value.assign(body.substr(kBodyHeaderBytes));
    crc = FrameCrc(header.body_length, body);
  } else {
    record.value.resize(header.body_length - kBodyHeaderBytes);
    absl::StatusOr<size_t> n = PreadUpTo(fd_.Get(), record.value.data(), record.value.size(),
                                         pos + kRecordOverhead, path_);
    if (!n.ok()) return n.status();
    if (*n != record.value.size()) return Corrupt(pos, "record cut short");
    crc = Crc32cExtend(FrameCrc(header.body_length, body_head), record.value);
  }
  if (crc != header.crc) return Corrupt(pos, "checksum mismatch");
  if (record.offset != offset) {
    return Corrupt(pos, absl::StrCat("holds offset ", record.offset, ", expected ", offset));
  }
  return record;
}

absl::Status Store::ReadFrames(uint64_t pos, uint64_t end, uint64_t offset, size_t count,
                               std::vector<Record>* out) const {
  const size_t size = end - pos;
  char* buffer = ReadScratch(size);
  absl::StatusOr<size_t> got = PreadUpTo(fd_.Get(), buffer, size, pos, path_);
  if (!got.ok()) return got.status();
  if (*got != size) return Corrupt(pos, "records cut short");
  std::string_view rest(buffer, size);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t at = pos + (size - rest.size());
    if (rest.size() < kRecordOverhead) return Corrupt(at, "record cut short");
    const FrameHeader header = DecodeFrameHeader(rest);
    if (header.body_length < kBodyHeaderBytes) return Corrupt(at, "invalid length");
    if (rest.size() - kFrameHeaderBytes < header.body_length)
      return Corrupt(at, "record cut short");
    const std::string_view body = rest.substr(kFrameHeaderBytes, header.body_length);
    if (FrameCrc(header.body_length, body) != header.crc) return Corrupt(at, "checksum mismatch");
    Record record = DecodeBody(body);
    if (record.offset != offset + i) {
      return Corrupt(at, absl::StrCat("holds offset ", record.offset, ", expected ", offset + i));
    }
    out->push_back(std::move(record));
    rest.remove_prefix(kFrameHeaderBytes + header.body_length);
  }
  return absl::OkStatus();
}

}  // namespace proglog::log::internal
