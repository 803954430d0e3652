// core/raft/entry_record.h: how a Raft entry is stored as one core/log record.
// The Raft log is the data log, so this is also how readers of the data log
// (the gRPC service, through LogStorage::SharedLog()) tell user records from
// Raft's own entries.
//
//   Raft index i  <->  log offset i - 1   (offsets are dense Raft indexes)
//   entry.term    ->   record.term
//   entry.type    ->   record.type        (EntryType values, as core/log stores them)
//   entry.data    ->   record.value       (verbatim: a type-0 user record's bytes are untouched;
//                                         a kTypedRecord's start with its user type)
//
// core/log refuses empty values, but a leader's no-op (and any entry) may have
// empty data. Such an entry is stored with one placeholder byte as its value
// and kEmptyDataFlag set in record.type; RecordToEntry gives back empty data.
// The flag, not the byte, marks the case, so a one-byte record is never mistaken
// for an empty one.
//
// Pure functions; thread-safe.
#ifndef PROGLOG_CORE_RAFT_ENTRY_RECORD_H_
#define PROGLOG_CORE_RAFT_ENTRY_RECORD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/log/log.h"
#include "core/raft/types.h"

namespace proglog::raft {

// Set in record.type when the entry's data is empty; the value is then kEmptyDataValue.
inline constexpr uint32_t kEmptyDataFlag = 1u << 31;
inline constexpr char kEmptyDataValue = '\0';

// REQUIRES: index >= 1 (index 0 is "before the log" and is never stored).
inline constexpr uint64_t OffsetOfIndex(uint64_t index) { return index - 1; }
inline constexpr uint64_t IndexOfOffset(uint64_t offset) { return offset + 1; }

// The record that stores `entry` (its offset field is left 0: the log assigns it).
log::Record EntryToRecord(const Entry& entry);
// The entry stored in `record`, read at `record.offset`. DataLoss if the record
// is not an encoded entry (an unknown type, or the empty flag on another value).
absl::StatusOr<Entry> RecordToEntry(log::Record record);

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_ENTRY_RECORD_H_
