// core/raft/offset_translator.h: maps Raft indexes to the dense user offsets
// clients see. The Raft log also holds entries with no user record (a new
// leader's no-op, membership changes); the translator skips them (every kind
// but those HoldsUserRecord accepts: kNormal and kTypedRecord), so offsets
// stay 0, 1, 2, ... with no holes. It remembers only the skipped indexes, which
// are rare, so it costs almost nothing per record.
//
// Thread-safety: none (REQUIRES: external synchronization).
#ifndef PROGLOG_CORE_RAFT_OFFSET_TRANSLATOR_H_
#define PROGLOG_CORE_RAFT_OFFSET_TRANSLATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/raft/types.h"

namespace proglog::raft {

class OffsetTranslator {
 public:
  // The next entry recorded will be Raft index `next_index` and, if it holds a
  // record, user offset `next_offset`.
  explicit OffsetTranslator(uint64_t next_index = 1, uint64_t next_offset = 0);

  // Records the entry at `index`, which must be NextIndex(): InvalidArgument otherwise.
  absl::Status Append(uint64_t index, EntryType type);
  // Forgets entries at `index` and after (Raft replaced an uncommitted suffix).
  // OutOfRange if `index` is below what the translator still knows.
  absl::Status TruncateFrom(uint64_t index);
  // Restarts after a snapshot: the entry after the snapshot is `next_index`
  // and the next record gets `next_offset`.
  void Reset(uint64_t next_index, uint64_t next_offset);
  // Forgets indexes below `index` (they were compacted away), bounding memory.
  void DropBefore(uint64_t index);

  // User offset of the record at Raft index `index`. NotFound if that entry
  // holds no record; OutOfRange if the index is not known.
  absl::StatusOr<uint64_t> OffsetOf(uint64_t index) const;
  // Raft index holding user offset `offset`; OutOfRange if not known.
  absl::StatusOr<uint64_t> IndexOf(uint64_t offset) const;

  uint64_t NextIndex() const { return next_index_; }
  uint64_t NextOffset() const;
  uint64_t FirstIndex() const { return base_index_; }
  // User offset of the first record at or after FirstIndex().
  uint64_t FirstOffset() const { return base_offset_; }

 private:
  size_t SkippedBefore(uint64_t index) const;

  uint64_t base_index_;
  uint64_t base_offset_;  // offset of the first record at or after base_index_
  uint64_t next_index_;
  std::vector<uint64_t> skipped_;  // sorted indexes in [base_index_, next_index_) without a record
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_OFFSET_TRANSLATOR_H_
