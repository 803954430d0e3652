#include <algorithm>

#include "core/log/log.h"

namespace proglog::log {

absl::StatusOr<std::vector<Record>> Log::ReadRange(uint64_t offset, size_t max_records,
                                                   size_t max_bytes) const {
  std::vector<Record> out;
  size_t bytes = 0;
  const uint64_t end = NextOffset();
  do {
    absl::StatusOr<Record> record = Read(offset);
    if (!record.ok()) {
      if (out.empty()) return record.status();
      break;  // return what was read; the caller will see the error next time
    }
    if (!out.empty() && bytes + record->value.size() > max_bytes) break;
    bytes += record->value.size();
    out.push_back(*std::move(record));
    ++offset;
  } while (out.size() < max_records && offset < end);
  return out;
}

absl::StatusOr<std::optional<Record>> LogReader::Next() {
  if (batch_pos_ < batch_.size()) {
    ++next_;
    return std::optional<Record>(std::move(batch_[batch_pos_++]));
  }
  batch_.clear();
  batch_pos_ = 0;
  next_ = std::max(next_, log_.LowestOffset());
  if (next_ >= log_.NextOffset()) return std::optional<Record>();
  constexpr size_t kBatchRecords = 256;
  constexpr size_t kBatchBytes = 1 << 20;
  absl::StatusOr<std::vector<Record>> batch = log_.ReadRange(next_, kBatchRecords, kBatchBytes);
  if (!batch.ok()) return batch.status();
  batch_ = *std::move(batch);
  ++next_;
  return std::optional<Record>(std::move(batch_[batch_pos_++]));
}

}  // namespace proglog::log
