// An index file: one fixed-width entry per record of a segment, mapping the
// record's offset relative to the segment base to its byte position in the
// store. Entry layout (little-endian): u32 relative offset | u64 position.
// The file is memory-mapped at a fixed capacity (the active segment's file is
// pre-sized to the maximum index bytes, blocks reserved) and cut to the used
// entries on a clean close. Set/Trim belong to the single writer; Position may
// run on any thread for entries the writer published before.
#ifndef PROGLOG_CORE_LOG_INDEX_H_
#define PROGLOG_CORE_LOG_INDEX_H_

#include <cstdint>
#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/file_io.h"

namespace proglog::log::internal {

class Index {
 public:
  static constexpr uint64_t kEntryBytes = 12;

  // Opens (creating) `path`, sizes the file to exactly `capacity` entries and
  // maps them. Existing entries within the capacity are kept.
  static absl::StatusOr<std::unique_ptr<Index>> Open(const std::filesystem::path& path,
                                                     uint64_t capacity);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  uint64_t Capacity() const { return capacity_; }
  const std::filesystem::path& Path() const { return path_; }

  // REQUIRES: rel < Capacity().
  void Set(uint64_t rel, uint64_t pos);
  uint64_t Position(uint64_t rel) const;
  // True if entry `rel` says (rel, pos): a zero-filled or stale entry does not.
  bool Holds(uint64_t rel, uint64_t pos) const;

  // Drops the mapping's pages from this process's resident set; the entries
  // stay in the page cache (and on disk) and fault back in when read.
  void ReleaseMemory();

  // Unmaps and cuts the file to `entries`. No other call is allowed afterwards.
  absl::Status Trim(uint64_t entries);

 private:
  Index(std::filesystem::path path, FileDescriptor fd, char* base, uint64_t capacity)
      : path_(std::move(path)), fd_(std::move(fd)), base_(base), capacity_(capacity) {}
  void Unmap();

  const std::filesystem::path path_;
  FileDescriptor fd_;
  char* base_;
  uint64_t capacity_;
};

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_INDEX_H_
