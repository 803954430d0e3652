// A segment: one store file and its index, named by the base offset (the
// offset of its first record), e.g. 00000000000000000042.store/.index. Open
// recovers the files after an unclean shutdown. Append, TruncateFrom, Sync and
// Remove belong to the log's single writer; Read, NextOffset and SizeBytes may
// run on any thread concurrently (readers only touch records the writer
// published before, through the log's readable watermark). Shared ownership
// lets a reader finish with a segment that the writer has just removed.
#ifndef PROGLOG_CORE_LOG_SEGMENT_H_
#define PROGLOG_CORE_LOG_SEGMENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/index.h"
#include "core/log/log.h"
#include "core/log/store.h"

namespace proglog::log::internal {

class Segment {
 public:
  static std::string StoreName(uint64_t base);
  static std::string IndexName(uint64_t base);
  // Parses a store file name back to its base offset.
  static std::optional<uint64_t> ParseStoreName(std::string_view name);

  // Opens (creating) the segment `base` in `dir` and checks every record. For
  // the last segment (`active`), a torn tail (damage at or after
  // `durable_offset`, see durable_point.h) is cut off and logged, and the index
  // is mapped at full capacity for appends; damage below `durable_offset`, or a
  // store ending before it, is DataLoss. An older segment was fsynced whole, so
  // any damage in it is DataLoss. Index entries that disagree with the store
  // are rewritten.
  static absl::StatusOr<std::shared_ptr<Segment>> Open(const std::filesystem::path& dir,
                                                       uint64_t base, const Options& options,
                                                       bool active, uint64_t durable_offset);
  // Cuts the index to its used entries unless the segment was removed.
  ~Segment();

  uint64_t Base() const { return base_; }
  uint64_t NextOffset() const { return base_ + entries_.load(std::memory_order_acquire); }
  uint64_t SizeBytes() const { return store_->Size(); }
  // Bytes of torn tail that Open cut off.
  uint64_t TornBytesDropped() const { return torn_bytes_dropped_; }
  const std::filesystem::path& StorePath() const { return store_->Path(); }
  const std::filesystem::path& IndexPath() const { return index_->Path(); }
  // When the last record was written (the store's modification time).
  absl::StatusOr<std::chrono::system_clock::time_point> LastWrite() const;

  // Writer: whether `records` more records of `bytes` in total still fit (an
  // empty store takes any one record, so a small store limit never blocks).
  bool HasRoom(uint64_t records, uint64_t bytes) const;
  // Writer: appends encoded frames; `starts` holds each frame's position in
  // `frames`. On failure nothing changes.
  absl::Status Append(std::string_view frames, std::span<const uint64_t> starts);
  // Writer: drops records at `offset` and after (base <= offset <= NextOffset).
  absl::Status TruncateFrom(uint64_t offset);
  absl::Status Sync() const { return store_->Sync(); }
  // Writer: cuts the store's reserved space (before the final Sync of a
  // segment that stops being the last, and on close).
  // Also lets go of the index pages this process has touched, so that a long
  // run does not keep every old segment's index resident.
  absl::Status Seal() {
    index_->ReleaseMemory();
    return store_->Finish();
  }
  // Writer: deletes both files; readers holding the segment can still read it.
  absl::Status Remove();

  // REQUIRES: base() <= offset < NextOffset().
  absl::StatusOr<Record> Read(uint64_t offset) const;
  // Appends to `out` the records from `offset` up to (not including) `limit`
  // (at most NextOffset()), at least one, then more while fewer than
  // `max_records` and their values total at most `max_bytes`; one pread.
  // REQUIRES: base() <= offset < limit <= NextOffset().
  absl::Status ReadRange(uint64_t offset, uint64_t limit, size_t max_records, size_t max_bytes,
                         std::vector<Record>* out) const;

 private:
  Segment(uint64_t base, const Options& options, std::unique_ptr<Store> store,
          std::unique_ptr<Index> index, uint64_t entries)
      : base_(base),
        max_store_bytes_(options.max_store_bytes),
        store_(std::move(store)),
        index_(std::move(index)),
        entries_(entries) {}

  const uint64_t base_;
  const uint64_t max_store_bytes_;
  const std::unique_ptr<Store> store_;
  const std::unique_ptr<Index> index_;
  std::atomic<uint64_t> entries_;
  bool removed_ = false;  // writer only
  uint64_t torn_bytes_dropped_ = 0;
};

}  // namespace proglog::log::internal

#endif  // PROGLOG_CORE_LOG_SEGMENT_H_
