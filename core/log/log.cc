// The Log implementation: segments, group commit, the readable watermark and
// offset waits.
//
// Writing: an append takes `write_mu_` just long enough to copy its frames into
// the active segment (a memcpy into reserved, mapped space). With
// Durability::kAlways it then waits for durability: if no fdatasync is in
// flight it becomes the syncer for everything written so far; otherwise it
// waits, and when that fdatasync ends, one waiter issues the next one for all
// appends written meanwhile. So appends that arrive while an fsync is in flight
// share the next one, and writing never waits for an fsync.
//
// Reading: a record is readable once `readable_next_` passes its offset; it is
// raised in offset order, after the write (and, for kAlways, the fsync). Readers
// load it, copy the current segment list under `view_mu_` (never held across
// I/O) and pread.
#include "core/log/log.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/log/durable_point.h"
#include "core/log/file_io.h"
#include "core/log/record_format.h"
#include "core/log/segment.h"
#include "core/log/testing_hooks.h"
#include "core/telemetry/metrics.h"
#include "core/telemetry/trace.h"
#include "spdlog/spdlog.h"

namespace proglog::log {
namespace {

// The log's histograms (the node reports the counters from GetStats()).
struct LogMetrics {
  explicit LogMetrics(telemetry::Registry* registry)
      : fsync_seconds(registry->GetHistogram("proglog_log_fsync_seconds",
                                             "Time one fdatasync of a log store file took.",
                                             telemetry::LatencyBuckets())),
        records_per_fsync(registry->GetHistogram("proglog_log_records_per_fsync",
                                                 "Records one group commit's fsync made durable.",
                                                 telemetry::ExponentialBuckets(1, 4, 9))) {}
  telemetry::Histogram* fsync_seconds;
  telemetry::Histogram* records_per_fsync;
};

using internal::FileDescriptor;
using internal::RunBeforeGroupSyncHook;
using internal::Segment;
using SegmentList = std::vector<std::shared_ptr<Segment>>;

// Largest value the u32 frame length can describe.
constexpr uint64_t kMaxRecordLimit = UINT32_MAX - internal::kBodyHeaderBytes;

using Callbacks = std::vector<absl::AnyInvocable<void()>>;

absl::Status ValidateOptions(const Options& o) {
  if (o.max_index_bytes < internal::Index::kEntryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_index_bytes must be at least ", internal::Index::kEntryBytes));
  }
  if (o.max_store_bytes == 0) return absl::InvalidArgumentError("max_store_bytes must be > 0");
  if (o.max_record_bytes == 0 || o.max_record_bytes > kMaxRecordLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_record_bytes must be in [1, ", kMaxRecordLimit, "]"));
  }
  if (o.durability.mode == Durability::Mode::kInterval && o.durability.interval.count() <= 0) {
    return absl::InvalidArgumentError("fsync interval must be > 0 ms");
  }
  return absl::OkStatus();
}

absl::StatusOr<FileDescriptor> LockDirectory(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "LOCK";
  absl::StatusOr<FileDescriptor> fd = internal::OpenFile(path, O_RDWR | O_CREAT);
  if (!fd.ok()) return fd.status();
  if (::flock(fd->Get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("log directory ", dir.string(), " is already open"));
    }
    return internal::FileError(errno, "lock", path);
  }
  return fd;
}

class LogImpl final : public Log {
 public:
  LogImpl(std::filesystem::path dir, Options options, FileDescriptor lock)
      : dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}
  ~LogImpl() override {
    if (!closed_.load()) Close().IgnoreError();
  }

  absl::Status Init();
  // The offset below which records are durable, as the last run left it.
  absl::StatusOr<uint64_t> RecoveredDurablePoint(const std::vector<uint64_t>& bases) const;

  absl::StatusOr<uint64_t> Append(const Record& record) override {
    return AppendBatch(std::span<const Record>(&record, 1));
  }
  absl::StatusOr<uint64_t> AppendBatch(std::span<const Record> records) override;
  absl::StatusOr<Record> Read(uint64_t offset) const override;
  absl::StatusOr<std::vector<Record>> ReadRange(uint64_t offset, size_t max_records,
                                                size_t max_bytes) const override;
  uint64_t LowestOffset() const override { return lowest_.load(std::memory_order_acquire); }
  uint64_t NextOffset() const override { return readable_next_.load(std::memory_order_acquire); }
  absl::Status Truncate(uint64_t lowest) override;
  absl::StatusOr<int> EnforceRetention() override;
  uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) override;
  bool CancelWait(uint64_t id) override;
  uint64_t SizeBytes() const override;
  absl::Status TruncateSuffix(uint64_t from) override;
  std::vector<SegmentInfo> Segments() const override;
  Stats GetStats() const override;
  absl::Status Close() override;

 private:
  std::shared_ptr<const SegmentList> View() const {
    absl::ReaderMutexLock l(&view_mu_);
    return view_;
  }
  void PublishView() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  absl::Status WriteRecords(std::span<const Record> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // kAlways: returns once offsets below `end` are durable (or an fsync failed,
  // or TruncateSuffix removed them). `epoch` is suffix_epoch_ at write time.
  absl::Status WaitDurable(uint64_t end, uint64_t epoch, Callbacks& ready);
  absl::Status Roll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status RemoveSuffixLocked(uint64_t from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status RemoveFront(size_t count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status CheckWritable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Makes offsets below `next` readable and collects the waits that became due.
  void Publish(uint64_t next, Callbacks& ready);

  void FlushLoop();
  void StopFlusher();
  static void WaitForReaders(const SegmentList& segments);
  // `timing`, if given, gets when the fsync ran.
  absl::Status SyncSegment(const Segment& segment, telemetry::FsyncTiming* timing = nullptr) {
    syncs_.fetch_add(1, std::memory_order_relaxed);
    const absl::Time start = absl::Now();
    absl::Status status = segment.Sync();
    const absl::Time end = absl::Now();
    metrics_.fsync_seconds->Observe(absl::ToDoubleSeconds(end - start));
    if (timing != nullptr) {
      *timing = {static_cast<uint64_t>(absl::ToUnixNanos(start)),
                 static_cast<uint64_t>(absl::ToUnixNanos(end))};
    }
    return status;
  }

  const std::filesystem::path dir_;
  const Options options_;
  const LogMetrics metrics_{options_.metrics != nullptr ? options_.metrics
                                                        : telemetry::DefaultRegistry()};
  FileDescriptor lock_;  // flock on dir_/LOCK for the log's lifetime
  // Set by Init; raised after each fsync of the store, lowered before a suffix cut.
  std::unique_ptr<internal::DurablePoint> durable_;

  // Held while writing and by the other mutating calls; never across an
  // append's fsync. Readers never take it.
  absl::Mutex write_mu_;
  SegmentList segments_ ABSL_GUARDED_BY(write_mu_);
  uint64_t next_offset_ ABSL_GUARDED_BY(write_mu_) = 0;
  bool write_closed_ ABSL_GUARDED_BY(write_mu_) = false;
  std::string frames_ ABSL_GUARDED_BY(write_mu_);  // WriteRecords' scratch
  std::vector<uint64_t> starts_ ABSL_GUARDED_BY(write_mu_);
  // Set when a failed write could not be rolled back: later writes refuse.
  absl::Status broken_ ABSL_GUARDED_BY(write_mu_);

  // Group commit state (kAlways). Lock order: write_mu_, then sync_mu_.
  mutable absl::Mutex sync_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  uint64_t written_end_ ABSL_GUARDED_BY(sync_mu_) = 0;               // end of written records
  std::shared_ptr<Segment> sync_segment_ ABSL_GUARDED_BY(sync_mu_);  // holding them
  uint64_t durable_end_ ABSL_GUARDED_BY(sync_mu_) = 0;
  // When the fsync that last raised durable_end_ ran (for trace spans).
  telemetry::FsyncTiming last_sync_ ABSL_GUARDED_BY(sync_mu_);
  bool syncing_ ABSL_GUARDED_BY(sync_mu_) = false;
  uint64_t sync_waiters_ ABSL_GUARDED_BY(sync_mu_) = 0;
  absl::Status sync_error_ ABSL_GUARDED_BY(sync_mu_);  // sticky: an fsync failed
  // Set once sync_error_ is: appends check it without taking sync_mu_.
  std::atomic<bool> sync_failed_{false};
  // TruncateSuffix calls, so that appends waiting for an fsync learn that
  // their records were removed: (epoch after the call, `from`).
  uint64_t suffix_epoch_ ABSL_GUARDED_BY(sync_mu_) = 0;
  std::vector<std::pair<uint64_t, uint64_t>> suffix_cuts_ ABSL_GUARDED_BY(sync_mu_);
  absl::CondVar sync_cv_;

  // The readers' copy of `segments_`, replaced (never modified) by the writer.
  mutable absl::Mutex view_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::shared_ptr<const SegmentList> view_ ABSL_GUARDED_BY(view_mu_);

  std::atomic<uint64_t> lowest_{0};
  std::atomic<uint64_t> readable_next_{0};
  std::atomic<bool> closed_{false};

  // Stats counters.
  std::atomic<uint64_t> appends_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> groups_{0};
  std::atomic<uint64_t> syncs_{0};
  uint64_t torn_bytes_dropped_ = 0;  // set once by Init

  struct Wait {
    uint64_t offset;
    absl::AnyInvocable<void()> ready;
  };
  absl::Mutex waits_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<uint64_t, Wait> waits_ ABSL_GUARDED_BY(waits_mu_);                     // by id
  std::multimap<uint64_t, uint64_t> waits_by_offset_ ABSL_GUARDED_BY(waits_mu_);  // offset -> id
  uint64_t next_wait_id_ ABSL_GUARDED_BY(waits_mu_) = 1;
  // Registered waits; changed under waits_mu_, read without it by Publish.
  std::atomic<uint64_t> wait_count_{0};

  absl::Mutex flush_mu_;
  bool stop_flush_ ABSL_GUARDED_BY(flush_mu_) = false;
  std::thread flusher_;
};

absl::Status LogImpl::Init() {
  std::vector<uint64_t> bases;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (std::optional<uint64_t> base = Segment::ParseStoreName(entry.path().filename().string())) {
      bases.push_back(*base);
    }
  }
  if (ec) return internal::FileError(ec.value(), "list", dir_);
  std::sort(bases.begin(), bases.end());
  const bool fresh = bases.empty();
  if (fresh) bases.push_back(options_.initial_offset);
  absl::StatusOr<uint64_t> durable = RecoveredDurablePoint(bases);
  if (!durable.ok()) return durable.status();

  absl::MutexLock l(&write_mu_);
  for (size_t i = 0; i < bases.size(); ++i) {
    absl::StatusOr<std::shared_ptr<Segment>> segment =
        Segment::Open(dir_, bases[i], options_, i + 1 == bases.size(), *durable);
    if (!segment.ok()) return segment.status();
    if (!segments_.empty() && segments_.back()->NextOffset() != bases[i]) {
      return absl::DataLossError(
          absl::StrCat("missing records: ", segments_.back()->StorePath().string(),
                       " ends at offset ", segments_.back()->NextOffset(), " but ",
                       (*segment)->StorePath().string(), " starts at ", bases[i]));
    }
    torn_bytes_dropped_ += (*segment)->TornBytesDropped();
    segments_.push_back(*std::move(segment));
  }
  next_offset_ = segments_.back()->NextOffset();
  // What survived a kill may still be only in the page cache: make it durable
  // before the durable point says so.
  if (absl::Status s = SyncSegment(*segments_.back()); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<internal::DurablePoint>> point =
      internal::DurablePoint::Open(dir_, next_offset_);
  if (!point.ok()) return point.status();
  durable_ = *std::move(point);
  if (absl::Status s = internal::SyncDirectory(dir_); !s.ok()) return s;
  {
    absl::MutexLock s(&sync_mu_);
    written_end_ = durable_end_ = next_offset_;
    sync_segment_ = segments_.back();
  }
  lowest_.store(segments_.front()->Base());
  readable_next_.store(next_offset_);
  PublishView();
  if (options_.durability.mode == Durability::Mode::kInterval) {
    flusher_ = std::thread([this] { FlushLoop(); });
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogImpl::RecoveredDurablePoint(const std::vector<uint64_t>& bases) const {
  if (bases.size() == 1 && bases[0] == options_.initial_offset &&
      !std::filesystem::exists(dir_ / Segment::StoreName(bases[0]))) {
    return options_.initial_offset;  // a new log: nothing to recover
  }
  absl::StatusOr<std::optional<uint64_t>> recorded = internal::DurablePoint::Read(dir_);
  if (!recorded.ok()) return recorded.status();
  if (recorded->has_value()) return **recorded;
  // Segments before the last were fsynced whole when the log rolled past them.
  spdlog::warn(
      "log: no valid {} in {}: damage anywhere in the last segment will be treated as a torn tail",
      internal::DurablePoint::kFileName, dir_.string());
  return bases.back();
}

void LogImpl::PublishView() {
  auto view = std::make_shared<const SegmentList>(segments_);
  absl::MutexLock l(&view_mu_);
  view_ = std::move(view);
}

absl::Status LogImpl::CheckWritable() const {
  if (write_closed_) return absl::FailedPreconditionError("log is closed");
  if (!broken_.ok()) return broken_;
  if (!sync_failed_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock s(&sync_mu_);
  return sync_error_;
}

absl::StatusOr<uint64_t> LogImpl::AppendBatch(std::span<const Record> records) {
  if (records.empty()) return absl::InvalidArgumentError("no records to append");
  uint64_t value_bytes = 0;
  for (const Record& r : records) {
    value_bytes += r.value.size();
    if (r.value.size() > options_.max_record_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("record value of ", r.value.size(),
                                                     " bytes exceeds the maximum of ",
                                                     options_.max_record_bytes, " bytes"));
    }
  }
  if (closed_.load()) return absl::FailedPreconditionError("log is closed");
  const bool always = options_.durability.mode == Durability::Mode::kAlways;
  uint64_t start;
  uint64_t end;
  uint64_t epoch = 0;
  Callbacks ready;
  {
    absl::MutexLock l(&write_mu_);
    if (absl::Status s = CheckWritable(); !s.ok()) return s;
    start = next_offset_;
    if (absl::Status s = WriteRecords(records); !s.ok()) {
      // All or nothing: drop whatever part of the batch reached the files.
      if (absl::Status undo = RemoveSuffixLocked(start); !undo.ok()) {
        broken_ = absl::InternalError(
            absl::StrCat("log left inconsistent by a failed rollback: ", undo.message()));
        spdlog::error("log: {}", broken_.ToString());
      }
      return s;
    }
    end = next_offset_;
    if (always) {
      absl::MutexLock s(&sync_mu_);
      written_end_ = end;
      sync_segment_ = segments_.back();
      epoch = suffix_epoch_;
      ++sync_waiters_;
    } else {
      Publish(end, ready);  // under write_mu_, so in offset order
    }
  }
  if (always) {
    if (absl::Status s = WaitDurable(end, epoch, ready); !s.ok()) return s;
  }
  appends_.fetch_add(1, std::memory_order_relaxed);
  records_.fetch_add(end - start, std::memory_order_relaxed);
  bytes_.fetch_add(value_bytes, std::memory_order_relaxed);
  // Outside every lock: callbacks may call back into the log.
  for (auto& fn : ready) fn();
  return start;
}

absl::Status LogImpl::WaitDurable(uint64_t end, uint64_t epoch, Callbacks& ready) {
  absl::MutexLock l(&sync_mu_);
  absl::Status status;
  while (true) {
    for (const auto& [cut_epoch, from] : suffix_cuts_) {
      if (cut_epoch > epoch && from < end) {
        status = absl::AbortedError("appended records were removed by TruncateSuffix");
      }
    }
    if (!status.ok() || durable_end_ >= end) break;
    if (!sync_error_.ok()) {
      status = sync_error_;
      break;
    }
    if (syncing_) {
      sync_cv_.Wait(&sync_mu_);
      continue;
    }
    // Become the syncer for everything written so far.
    syncing_ = true;
    const uint64_t target = written_end_;
    const std::shared_ptr<Segment> segment = sync_segment_;
    const uint64_t durable_epoch = durable_->Epoch();
    sync_mu_.Unlock();
    RunBeforeGroupSyncHook();
    telemetry::FsyncTiming timing;
    absl::Status synced = SyncSegment(*segment, &timing);
    if (synced.ok()) synced = durable_->Raise(target, durable_epoch);
    sync_mu_.Lock();
    syncing_ = false;
    if (synced.ok()) {
      groups_.fetch_add(1, std::memory_order_relaxed);
      if (target > durable_end_) {
        metrics_.records_per_fsync->Observe(static_cast<double>(target - durable_end_));
        durable_end_ = target;
        last_sync_ = timing;
        Publish(target, ready);
      }
    } else {
      spdlog::error("log: {}", synced.ToString());
      sync_error_ = synced;
      sync_failed_.store(true, std::memory_order_release);
    }
    sync_cv_.SignalAll();
  }
  --sync_waiters_;
  // The request spans of this append show the fsync that made it durable.
  if (status.ok() && last_sync_.end_unix_nanos != 0) telemetry::NoteFsync(durable_end_, last_sync_);
  return status;
}

absl::Status LogImpl::WriteRecords(std::span<const Record> records) {
  // Reused buffers: no allocation per append in the steady state.
  std::string& frames = frames_;
  std::vector<uint64_t>& starts = starts_;
  frames.clear();
  starts.clear();
  // Annotated: the analysis does not carry the caller's lock into a lambda.
  auto flush = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) -> absl::Status {
    if (starts.empty()) return absl::OkStatus();
    absl::Status s = segments_.back()->Append(frames, starts);
    if (s.ok()) next_offset_ += starts.size();
    frames.clear();
    starts.clear();
    return s;
  };
  for (const Record& r : records) {
    const uint64_t frame_bytes = internal::EncodedSize(r);
    if (!segments_.back()->HasRoom(starts.size() + 1, frames.size() + frame_bytes)) {
      if (absl::Status s = flush(); !s.ok()) return s;
      if (absl::Status s = Roll(); !s.ok()) return s;
    }
    starts.push_back(frames.size());
    internal::EncodeRecord(r, next_offset_ + starts.size() - 1, frames);
  }
  return flush();
}

absl::Status LogImpl::Roll() {
  // The old segment is final from now on: trim it and make it durable once, here.
  if (absl::Status s = segments_.back()->Seal(); !s.ok()) return s;
  if (absl::Status s = SyncSegment(*segments_.back()); !s.ok()) return s;
  if (absl::Status s = durable_->Raise(next_offset_, durable_->Epoch()); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<Segment>> next =
      Segment::Open(dir_, next_offset_, options_, /*active=*/true, next_offset_);
  absl::Status status = next.status();
  if (status.ok()) status = internal::SyncDirectory(dir_);
  if (!status.ok()) {
    // Do not leave half-made files behind (they would be read as a segment).
    next = absl::CancelledError();
    std::error_code ec;
    std::filesystem::remove(dir_ / Segment::StoreName(next_offset_), ec);
    std::filesystem::remove(dir_ / Segment::IndexName(next_offset_), ec);
    return status;
  }
  segments_.push_back(*std::move(next));
  PublishView();
  return absl::OkStatus();
}

void LogImpl::Publish(uint64_t next, Callbacks& ready) {
  // Sequentially consistent with WaitForOffset's count-then-check, so that
  // either this sees its wait or it sees the new watermark.
  readable_next_.store(next, std::memory_order_seq_cst);
  if (wait_count_.load(std::memory_order_seq_cst) == 0) return;  // the common case: no lock
  absl::MutexLock l(&waits_mu_);
  while (!waits_by_offset_.empty() && waits_by_offset_.begin()->first < next) {
    auto it = waits_.find(waits_by_offset_.begin()->second);
    ready.push_back(std::move(it->second.ready));
    waits_.erase(it);
    waits_by_offset_.erase(waits_by_offset_.begin());
    wait_count_.fetch_sub(1);
  }
}

absl::StatusOr<Record> LogImpl::Read(uint64_t offset) const {
  if (closed_.load()) return absl::FailedPreconditionError("log is closed");
  const uint64_t next = readable_next_.load(std::memory_order_acquire);
  if (offset >= next) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " is past the end of the log (next offset ", next, ")"));
  }
  const uint64_t lowest = lowest_.load(std::memory_order_acquire);
  auto below = [&] {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " is below the lowest offset kept (", lowest, ")"));
  };
  if (offset < lowest) return below();
  std::shared_ptr<const SegmentList> view = View();
  if (view == nullptr) return absl::FailedPreconditionError("log is closed");
  auto it = std::upper_bound(view->begin(), view->end(), offset,
                             [](uint64_t o, const auto& s) { return o < s->Base(); });
  if (it == view->begin()) return below();
  const Segment& segment = **std::prev(it);
  if (offset >= segment.NextOffset()) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " was removed"));
  }
  absl::StatusOr<Record> record = segment.Read(offset);
  if (!record.ok() && offset >= readable_next_.load(std::memory_order_acquire)) {
    // TruncateSuffix removed it while we read.
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " was removed"));
  }
  return record;
}

absl::StatusOr<std::vector<Record>> LogImpl::ReadRange(uint64_t offset, size_t max_records,
                                                       size_t max_bytes) const {
  // The first record gets exactly Read's checks and errors.
  absl::StatusOr<Record> first = Read(offset);
  if (!first.ok()) return first.status();
  std::vector<Record> out;
  size_t bytes = first->value.size();
  out.push_back(*std::move(first));
  // The rest: one pread per segment for as many records as fit the limits.
  const uint64_t next = readable_next_.load(std::memory_order_acquire);
  std::shared_ptr<const SegmentList> view = View();
  if (view == nullptr) return out;
  uint64_t at = offset + 1;
  while (at < next && out.size() < max_records && bytes < max_bytes) {
    auto it = std::upper_bound(view->begin(), view->end(), at,
                               [](uint64_t o, const auto& s) { return o < s->Base(); });
    if (it == view->begin()) break;
    const Segment& segment = **std::prev(it);
    const uint64_t limit = std::min(next, segment.NextOffset());
    if (at >= limit) break;
    const size_t before = out.size();
    absl::Status read =
        segment.ReadRange(at, limit, max_records - out.size(), max_bytes - bytes, &out);
    if (!read.ok() || at + (out.size() - before) > readable_next_.load(std::memory_order_acquire)) {
      // Damage, or TruncateSuffix removed records while we read: return what
      // was read before; the caller sees the error on its next read.
      out.resize(before);
      break;
    }
    if (out.size() == before) break;
    for (size_t i = before; i < out.size(); ++i) bytes += out[i].value.size();
    if (bytes > max_bytes) {
      // Segment::ReadRange returns at least one record; keep the limit.
      out.pop_back();
      break;
    }
    at += out.size() - before;
  }
  return out;
}

uint64_t LogImpl::SizeBytes() const {
  std::shared_ptr<const SegmentList> view = View();
  uint64_t total = 0;
  if (view != nullptr) {
    for (const auto& s : *view) total += s->SizeBytes();
  }
  return total;
}

std::vector<Log::SegmentInfo> LogImpl::Segments() const {
  std::vector<SegmentInfo> out;
  std::shared_ptr<const SegmentList> view = View();
  if (view == nullptr) return out;
  const uint64_t readable = readable_next_.load(std::memory_order_acquire);
  for (const auto& s : *view) {
    out.push_back(SegmentInfo{s->Base(), std::min(s->NextOffset(), std::max(readable, s->Base())),
                              s->SizeBytes(), s->StorePath(), s->IndexPath()});
  }
  return out;
}

Log::Stats LogImpl::GetStats() const {
  Stats stats;
  stats.appends = appends_.load(std::memory_order_relaxed);
  stats.records = records_.load(std::memory_order_relaxed);
  stats.bytes = bytes_.load(std::memory_order_relaxed);
  stats.groups = groups_.load(std::memory_order_relaxed);
  stats.syncs = syncs_.load(std::memory_order_relaxed);
  stats.torn_bytes_dropped = torn_bytes_dropped_;
  absl::MutexLock l(&sync_mu_);
  stats.queued = sync_waiters_;
  return stats;
}

absl::Status LogImpl::RemoveFront(size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (absl::Status s = segments_.front()->Remove(); !s.ok()) return s;
    segments_.erase(segments_.begin());
    PublishView();
    lowest_.store(segments_.front()->Base(), std::memory_order_release);
  }
  if (count == 0) return absl::OkStatus();
  return internal::SyncDirectory(dir_);
}

absl::Status LogImpl::Truncate(uint64_t lowest) {
  absl::MutexLock l(&write_mu_);
  if (write_closed_) return absl::FailedPreconditionError("log is closed");
  size_t count = 0;
  while (count + 1 < segments_.size() && segments_[count + 1]->Base() <= lowest) ++count;
  return RemoveFront(count);
}

absl::StatusOr<int> LogImpl::EnforceRetention() {
  absl::MutexLock l(&write_mu_);
  if (write_closed_) return absl::FailedPreconditionError("log is closed");
  uint64_t total = 0;
  for (const auto& s : segments_) total += s->SizeBytes();
  const auto now = std::chrono::system_clock::now();
  size_t count = 0;
  while (count + 1 < segments_.size()) {
    const Segment& oldest = *segments_[count];
    bool expired = false;
    if (options_.retention_age.count() > 0) {
      absl::StatusOr<std::chrono::system_clock::time_point> last = oldest.LastWrite();
      if (!last.ok()) return last.status();
      expired = *last + options_.retention_age < now;
    }
    const bool over = options_.retention_bytes > 0 && total > options_.retention_bytes;
    if (!expired && !over) break;
    total -= oldest.SizeBytes();
    ++count;
  }
  if (absl::Status s = RemoveFront(count); !s.ok()) return s;
  return static_cast<int>(count);
}

absl::Status LogImpl::TruncateSuffix(uint64_t from) {
  absl::MutexLock l(&write_mu_);
  if (write_closed_) return absl::FailedPreconditionError("log is closed");
  if (from < segments_.front()->Base()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot truncate from ", from, ": below the lowest offset ", segments_.front()->Base()));
  }
  if (from >= next_offset_) return absl::OkStatus();
  // No fsync may publish offsets while they are being removed.
  absl::MutexLock s(&sync_mu_);
  sync_mu_.Await(absl::Condition(
      +[](bool* syncing) { return !*syncing; }, &syncing_));
  absl::Status status = RemoveSuffixLocked(from);
  written_end_ = std::min(written_end_, next_offset_);
  durable_end_ = std::min(durable_end_, next_offset_);
  sync_segment_ = segments_.back();
  if (sync_waiters_ == 0) suffix_cuts_.clear();  // nobody can be affected by older cuts
  suffix_cuts_.emplace_back(++suffix_epoch_, from);
  sync_cv_.SignalAll();
  return status;
}

absl::Status LogImpl::RemoveSuffixLocked(uint64_t from) {
  if (from >= next_offset_ && from >= segments_.back()->NextOffset()) return absl::OkStatus();
  // Durably first: records written after the cut must not pass for durable ones.
  if (absl::Status s = durable_->Lower(from); !s.ok()) return s;
  // Lower the watermark first so that new readers stop at `from`.
  if (readable_next_.load() > from) readable_next_.store(from, std::memory_order_release);
  bool removed = false;
  while (segments_.size() > 1 && segments_.back()->Base() >= from) {
    absl::Status s = segments_.back()->Remove();
    segments_.pop_back();
    removed = true;
    if (!s.ok()) return s;
  }
  if (removed) PublishView();
  if (absl::Status s = segments_.back()->TruncateFrom(from); !s.ok()) return s;
  next_offset_ = from;
  if (absl::Status s = SyncSegment(*segments_.back()); !s.ok()) return s;
  return removed ? internal::SyncDirectory(dir_) : absl::OkStatus();
}

uint64_t LogImpl::WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) {
  uint64_t id;
  {
    absl::MutexLock l(&waits_mu_);
    id = next_wait_id_++;
    // Count first, then check: Publish raises the watermark, then reads the
    // count, so a wait registered here cannot be missed.
    wait_count_.fetch_add(1, std::memory_order_seq_cst);
    if (offset >= readable_next_.load(std::memory_order_seq_cst)) {
      if (closed_.load()) {
        wait_count_.fetch_sub(1);
        return id;  // never fires: Close drops waits
      }
      waits_.emplace(id, Wait{offset, std::move(ready)});
      waits_by_offset_.emplace(offset, id);
      return id;
    }
    wait_count_.fetch_sub(1);
  }
  ready();
  return id;
}

bool LogImpl::CancelWait(uint64_t id) {
  absl::AnyInvocable<void()> dropped;  // destroyed outside the lock
  absl::MutexLock l(&waits_mu_);
  auto it = waits_.find(id);
  if (it == waits_.end()) return false;
  auto [lo, hi] = waits_by_offset_.equal_range(it->second.offset);
  for (auto w = lo; w != hi; ++w) {
    if (w->second == id) {
      waits_by_offset_.erase(w);
      break;
    }
  }
  dropped = std::move(it->second.ready);
  waits_.erase(it);
  wait_count_.fetch_sub(1);
  return true;
}

void LogImpl::FlushLoop() {
  const absl::Duration interval = absl::FromChrono(options_.durability.interval);
  absl::MutexLock l(&flush_mu_);
  absl::Time deadline = absl::Now() + interval;
  while (!stop_flush_) {
    const bool stop =
        flush_mu_.AwaitWithDeadline(absl::Condition(
                                        +[](bool* stop) { return *stop; }, &stop_flush_),
                                    deadline);
    if (stop) break;
    deadline = absl::Now() + interval;
    // Read before the segment list: every record below `written` is then in
    // `active` or in an older segment, fsynced when the log rolled past it.
    const uint64_t epoch = durable_->Epoch();
    const uint64_t written = readable_next_.load(std::memory_order_acquire);
    std::shared_ptr<const SegmentList> view = View();
    if (view == nullptr) continue;
    std::shared_ptr<Segment> active = view->back();
    flush_mu_.Unlock();
    absl::Status s = SyncSegment(*active);
    if (s.ok()) s = durable_->Raise(written, epoch);
    if (!s.ok()) spdlog::error("log: {}", s.ToString());
    flush_mu_.Lock();
  }
}

void LogImpl::StopFlusher() {
  {
    absl::MutexLock l(&flush_mu_);
    stop_flush_ = true;
  }
  if (flusher_.joinable()) flusher_.join();
}

void LogImpl::WaitForReaders(const SegmentList& segments) {
  // Readers hold a segment only for one read. Once they let go, the index
  // files can be trimmed here rather than later on a reader's thread (where
  // a reopened log could already be using the files).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& s : segments) {
    while (s.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
}

absl::Status LogImpl::Close() {
  {
    absl::MutexLock l(&write_mu_);
    if (write_closed_) return absl::FailedPreconditionError("log is closed");
    write_closed_ = true;
    closed_.store(true);
  }
  StopFlusher();
  absl::Status status;
  SegmentList segments;
  {
    absl::MutexLock l(&write_mu_);
    // Take the syncer's role for the final fsync; appends still waiting for
    // one are answered by it.
    absl::MutexLock s(&sync_mu_);
    sync_mu_.Await(absl::Condition(
        +[](bool* syncing) { return !*syncing; }, &syncing_));
    if (!segments_.empty()) {
      status = segments_.back()->Seal();
      if (status.ok()) status = SyncSegment(*segments_.back());
    }
    if (status.ok() && durable_ != nullptr) {
      status = durable_->Raise(next_offset_, durable_->Epoch());
      if (status.ok()) status = durable_->Sync();
    }
    if (status.ok()) {
      durable_end_ = written_end_;
    } else if (sync_error_.ok()) {
      sync_error_ = status;
      sync_failed_.store(true, std::memory_order_release);
    }
    sync_segment_.reset();
    sync_cv_.SignalAll();
    segments.swap(segments_);
    absl::MutexLock v(&view_mu_);
    view_.reset();
  }
  std::map<uint64_t, Wait> dropped;
  {
    absl::MutexLock l(&waits_mu_);
    dropped.swap(waits_);
    waits_by_offset_.clear();
    wait_count_.store(0);
  }
  WaitForReaders(segments);
  // Each segment trims its index file as it goes.
  segments.clear();
  lock_.Reset();
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Log>> Log::Open(const std::filesystem::path& dir, Options options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return internal::FileError(ec.value(), "create directory", dir);
  absl::StatusOr<FileDescriptor> lock = LockDirectory(dir);
  if (!lock.ok()) return lock.status();
  auto log = std::make_unique<LogImpl>(dir, options, *std::move(lock));
  if (absl::Status s = log->Init(); !s.ok()) {
    log->Close().IgnoreError();
    return s;
  }
  return log;
}

}  // namespace proglog::log
