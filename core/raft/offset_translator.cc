#include "core/raft/offset_translator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

OffsetTranslator::OffsetTranslator(uint64_t next_index, uint64_t next_offset)
    : base_index_(next_index), base_offset_(next_offset), next_index_(next_index) {}

size_t OffsetTranslator::SkippedBefore(uint64_t index) const {
  return std::lower_bound(skipped_.begin(), skipped_.end(), index) - skipped_.begin();
}

uint64_t OffsetTranslator::NextOffset() const {
  return base_offset_ + (next_index_ - base_index_) - skipped_.size();
}

absl::Status OffsetTranslator::Append(uint64_t index, EntryType type) {
  if (index != next_index_) {
    return absl::InvalidArgumentError(
        absl::StrCat("append of index ", index, ", expected ", next_index_));
  }
  if (!HoldsUserRecord(type)) skipped_.push_back(index);
  ++next_index_;
  return absl::OkStatus();
}

absl::Status OffsetTranslator::TruncateFrom(uint64_t index) {
  if (index < base_index_) {
    return absl::OutOfRangeError(
        absl::StrCat("truncate at ", index, " below first known index ", base_index_));
  }
  if (index >= next_index_) return absl::OkStatus();
  skipped_.resize(SkippedBefore(index));
  next_index_ = index;
  return absl::OkStatus();
}

void OffsetTranslator::Reset(uint64_t next_index, uint64_t next_offset) {
  base_index_ = next_index_ = next_index;
  base_offset_ = next_offset;
  skipped_.clear();
}

void OffsetTranslator::DropBefore(uint64_t index) {
  index = std::min(index, next_index_);
  if (index <= base_index_) return;
  const size_t skipped = SkippedBefore(index);
  base_offset_ += (index - base_index_) - skipped;
  skipped_.erase(skipped_.begin(), skipped_.begin() + static_cast<std::ptrdiff_t>(skipped));
  base_index_ = index;
}

absl::StatusOr<uint64_t> OffsetTranslator::OffsetOf(uint64_t index) const {
  if (index < base_index_ || index >= next_index_) {
    return absl::OutOfRangeError(
        absl::StrCat("index ", index, " outside [", base_index_, ", ", next_index_, ")"));
  }
  const size_t skipped = SkippedBefore(index);
  if (skipped < skipped_.size() && skipped_[skipped] == index) {
    return absl::NotFoundError(absl::StrCat("index ", index, " holds no record"));
  }
  return base_offset_ + (index - base_index_) - skipped;
}

absl::StatusOr<uint64_t> OffsetTranslator::IndexOf(uint64_t offset) const {
  if (offset < base_offset_ || offset >= NextOffset()) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " outside [", base_offset_, ", ", NextOffset(), ")"));
  }
  // Walk past each skipped index at or below the candidate; they are few.
  uint64_t index = base_index_ + (offset - base_offset_);
  for (uint64_t s : skipped_) {
    if (s > index) break;
    ++index;
  }
  return index;
}

}  // namespace proglog::raft
