#include "core/raft/entry_record.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

log::Record EntryToRecord(const Entry& entry) {
  log::Record record;
  record.term = entry.term;
  record.type = static_cast<uint32_t>(entry.type);
  if (entry.data.empty()) {
    record.value.assign(1, kEmptyDataValue);
    record.type |= kEmptyDataFlag;
  } else {
    record.value = entry.data;
  }
  return record;
}

absl::StatusOr<Entry> RecordToEntry(log::Record record) {
  const uint32_t kind = record.type & ~kEmptyDataFlag;
  if (!IsEntryType(kind)) {
    return absl::DataLossError(
        absl::StrCat("record at offset ", record.offset, " has unknown entry type ", record.type));
  }
  const bool empty = (record.type & kEmptyDataFlag) != 0;
  if (empty && record.value != std::string(1, kEmptyDataValue)) {
    return absl::DataLossError(absl::StrCat("record at offset ", record.offset,
                                            " is marked empty but holds ", record.value.size(),
                                            " bytes"));
  }
  Entry entry;
  entry.index = IndexOfOffset(record.offset);
  entry.term = record.term;
  entry.type = static_cast<EntryType>(kind);
  if (!empty) entry.data = std::move(record.value);
  return entry;
}

}  // namespace proglog::raft
