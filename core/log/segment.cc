#include "core/log/segment.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log/file_io.h"
#include "core/log/record_format.h"
#include "spdlog/spdlog.h"

namespace proglog::log::internal {
namespace {

constexpr std::string_view kStoreSuffix = ".store";
constexpr std::string_view kIndexSuffix = ".index";

// Zero-padded so that a directory listing sorts segments by offset.
std::string BaseName(uint64_t base) { return absl::StrFormat("%020u", base); }

}  // namespace

std::string Segment::StoreName(uint64_t base) { return BaseName(base) + std::string(kStoreSuffix); }
std::string Segment::IndexName(uint64_t base) { return BaseName(base) + std::string(kIndexSuffix); }

std::optional<uint64_t> Segment::ParseStoreName(std::string_view name) {
  if (name.size() <= kStoreSuffix.size() || !name.ends_with(kStoreSuffix)) return std::nullopt;
  name.remove_suffix(kStoreSuffix.size());
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t base;
  if (!absl::SimpleAtoi(std::string(name), &base)) return std::nullopt;
  return base;
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Open(const std::filesystem::path& dir,
                                                       uint64_t base, const Options& options,
                                                       bool active, uint64_t durable_offset) {
  const Store::Writes writes = options.durability.mode == Durability::Mode::kAlways
                                   ? Store::Writes::kPwrite
                                   : Store::Writes::kMapped;
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(dir / StoreName(base), options.max_store_bytes, writes);
  if (!store.ok()) return store.status();
  // A segment that is not the last was fsynced whole when the log rolled past it.
  absl::StatusOr<Store::ScanResult> scan =
      (*store)->Scan(base, active ? durable_offset : UINT64_MAX);
  if (!scan.ok()) return scan.status();
  if (active && base + scan->positions.size() < durable_offset) {
    return absl::DataLossError(absl::StrCat("missing records: ", (*store)->Path().string(),
                                            " ends at offset ", base + scan->positions.size(),
                                            " but records up to ", durable_offset,
                                            " were durable (see DURABLE in the same directory)"));
  }
  if (scan->valid_bytes < scan->file_bytes) {
    const uint64_t dropped = scan->file_bytes - scan->valid_bytes;
    if (!active) {
      // Records after this one exist in later segments: cutting here would
      // leave a hole in the offsets.
      return absl::DataLossError(absl::StrCat("corrupt record in ", (*store)->Path().string(),
                                              " at byte ", scan->valid_bytes,
                                              ": damaged tail in a segment that is not the last"));
    }
    if (absl::Status s = (*store)->Truncate(scan->valid_bytes); !s.ok()) return s;
    if (absl::Status s = (*store)->Sync(); !s.ok()) return s;
    const uint64_t torn = scan->data_end - scan->valid_bytes;
    if (torn > 0) {
      spdlog::warn(
          "log: dropped {} bytes of torn tail from {} ({} of a damaged or partial record, {} "
          "zero bytes); kept {} records, {} bytes",
          dropped, (*store)->Path().string(), torn, dropped - torn, scan->positions.size(),
          scan->valid_bytes);
    } else {
      spdlog::info("log: cut {} zero bytes (unused reserved space) from the tail of {}", dropped,
                   (*store)->Path().string());
    }
  }
  const uint64_t entries = scan->positions.size();
  const uint64_t capacity =
      active ? std::max(entries, options.max_index_bytes / Index::kEntryBytes) : entries;
  absl::StatusOr<std::unique_ptr<Index>> index = Index::Open(dir / IndexName(base), capacity);
  if (!index.ok()) return index.status();
  uint64_t rewritten = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!(*index)->Holds(i, scan->positions[i])) {
      (*index)->Set(i, scan->positions[i]);
      ++rewritten;
    }
  }
  if (rewritten > 0) {
    spdlog::info("log: rebuilt {} of {} entries of {} from its store", rewritten, entries,
                 (*index)->Path().string());
  }
  std::shared_ptr<Segment> segment(
      new Segment(base, options, std::move(*store), std::move(*index), entries));
  segment->torn_bytes_dropped_ = scan->file_bytes - scan->valid_bytes;
  return segment;
}

Segment::~Segment() {
  if (removed_) return;
  if (absl::Status s = store_->Finish(); !s.ok()) {
    spdlog::error("log: could not trim {}: {}", store_->Path().string(), s.ToString());
  }
  if (absl::Status s = index_->Trim(entries_.load()); !s.ok()) {
    spdlog::error("log: could not trim {}: {}", index_->Path().string(), s.ToString());
  }
}

absl::StatusOr<std::chrono::system_clock::time_point> Segment::LastWrite() const {
  struct stat st;
  if (::stat(store_->Path().c_str(), &st) != 0) return FileError(errno, "stat", store_->Path());
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

bool Segment::HasRoom(uint64_t records, uint64_t bytes) const {
  if (entries_.load(std::memory_order_relaxed) + records > index_->Capacity()) return false;
  const uint64_t size = store_->Size();
  return (size == 0 && records == 1) || size + bytes <= max_store_bytes_;
}

absl::Status Segment::Append(std::string_view frames, std::span<const uint64_t> starts) {
  const uint64_t entries = entries_.load(std::memory_order_relaxed);
  if (entries + starts.size() > index_->Capacity()) {
    return absl::InternalError(absl::StrCat("index full: ", index_->Path().string()));
  }
  const uint64_t pos = store_->Size();
  if (absl::Status s = store_->Append(frames); !s.ok()) return s;
  for (size_t i = 0; i < starts.size(); ++i) index_->Set(entries + i, pos + starts[i]);
  entries_.store(entries + starts.size(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Segment::TruncateFrom(uint64_t offset) {
  const uint64_t entries = entries_.load(std::memory_order_relaxed);
  const uint64_t rel = offset - base_;
  if (rel >= entries) return absl::OkStatus();
  if (absl::Status s = store_->Truncate(index_->Position(rel)); !s.ok()) return s;
  entries_.store(rel, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Segment::Remove() {
  removed_ = true;
  std::error_code ec;
  std::filesystem::remove(store_->Path(), ec);
  if (ec) return FileError(ec.value(), "remove", store_->Path());
  std::filesystem::remove(index_->Path(), ec);
  if (ec) return FileError(ec.value(), "remove", index_->Path());
  return absl::OkStatus();
}

absl::Status Segment::ReadRange(uint64_t offset, uint64_t limit, size_t max_records,
                                size_t max_bytes, std::vector<Record>* out) const {
  // Frame sizes come from the index (the distance between positions), so the
  // whole run is read at once; the last frame of the segment ends at the
  // store's size, which an append raises before it publishes the record.
  const uint64_t segment_entries = NextOffset() - base_;
  const uint64_t entries = limit - base_;
  auto end_of = [&](uint64_t r) {
    return r + 1 < segment_entries ? index_->Position(r + 1) : store_->Size();
  };
  uint64_t rel = offset - base_;
  const uint64_t start = index_->Position(rel);
  uint64_t end = start;
  size_t count = 0;
  size_t bytes = 0;
  while (rel < entries && count < max_records) {
    const uint64_t next = end_of(rel);
    const size_t value_bytes = next - end - std::min<uint64_t>(next - end, kRecordOverhead);
    if (count > 0 && bytes + value_bytes > max_bytes) break;
    bytes += value_bytes;
    end = next;
    ++count;
    ++rel;
  }
  return store_->ReadFrames(start, end, offset, count, out);
}

absl::StatusOr<Record> Segment::Read(uint64_t offset) const {
  return store_->Read(index_->Position(offset - base_), offset);
}

}  // namespace proglog::log::internal
