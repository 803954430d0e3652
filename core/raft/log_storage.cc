#include "core/raft/log_storage.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/raft/entry_record.h"

namespace proglog::raft {
namespace {

constexpr uint32_t kStateMagic = 0x54535250;     // "PRST" little-endian
constexpr uint32_t kSnapshotMagic = 0x4e535250;  // "PRSN" little-endian

absl::Status Annotate(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace

LogStorage::LogStorage(std::filesystem::path dir, LogStorageOptions options)
    : dir_(std::move(dir)),
      options_(options),
      state_file_(dir_ / "state", kStateMagic),
      snapshot_file_(dir_ / "snapshot", kSnapshotMagic) {}

LogStorage::~LogStorage() {
  if (!closed_) Close().IgnoreError();
}

absl::StatusOr<std::unique_ptr<LogStorage>> LogStorage::Open(const std::filesystem::path& dir,
                                                             LogStorageOptions options,
                                                             ConfState bootstrap) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create directory ", dir.string(), ": ", ec.message()));
  }
  std::unique_ptr<LogStorage> storage(new LogStorage(dir, options));
  if (absl::Status s = storage->Init(std::move(bootstrap)); !s.ok()) {
    storage->Close().IgnoreError();
    return s;
  }
  return storage;
}

absl::Status LogStorage::Init(ConfState bootstrap) {
  state_file_.RemoveLeftovers();
  snapshot_file_.RemoveLeftovers();
  std::error_code ec;
  std::filesystem::remove_all(dir_ / "log.discard", ec);  // a ResetLog that crashed

  absl::StatusOr<std::optional<std::string>> snap_bytes = snapshot_file_.Read();
  if (!snap_bytes.ok()) return snap_bytes.status();
  if (snap_bytes->has_value()) {
    absl::StatusOr<Snapshot> snap = DecodeSnapshot(**snap_bytes);
    if (!snap.ok()) return Annotate(snap.status(), snapshot_file_.Path().string());
    snapshot_ = *std::move(snap);
  } else {
    snapshot_.meta.conf = bootstrap;
  }
  const uint64_t snap_index = snapshot_.meta.index;

  absl::StatusOr<std::optional<std::string>> state_bytes = state_file_.Read();
  if (!state_bytes.ok()) return state_bytes.status();
  bool write_state = !state_bytes->has_value();
  if (state_bytes->has_value()) {
    absl::StatusOr<PersistentState> state = DecodePersistentState(**state_bytes);
    if (!state.ok()) return Annotate(state.status(), state_file_.Path().string());
    state_ = *std::move(state);
  } else {
    state_.conf_state = std::move(bootstrap);
  }
  // A state file written before the snapshot file (a crash between the two
  // writes of ApplySnapshot or Compact) may hold a membership the snapshot
  // supersedes: keep the newer of the two.
  if (state_.snapshot_index < snap_index) {
    if (snapshot_.meta.conf.index >= state_.conf_state.index) {
      state_.conf_state = snapshot_.meta.conf;
    }
    state_.snapshot_index = snap_index;
    write_state = true;
  }

  absl::StatusOr<std::shared_ptr<log::Log>> log = OpenLog(snap_index);
  if (!log.ok()) return log.status();
  {
    absl::MutexLock l(&log_mu_);
    log_ = *std::move(log);
    log_raw_ = log_.get();
  }
  // The log must continue the snapshot: its offsets [lowest, next) must cover
  // offset snap_index (the entry after the snapshot, or the next one to
  // append), and if it holds the snapshot's own entry, with the same term.
  const uint64_t lowest = log_raw_->LowestOffset();
  const uint64_t next = log_raw_->NextOffset();
  if (lowest > snap_index) {
    return absl::DataLossError(absl::StrCat("raft log in ", (dir_ / "log").string(),
                                            " starts at index ", IndexOfOffset(lowest),
                                            " but the snapshot ends at index ", snap_index));
  }
  bool agrees = next >= snap_index;
  if (agrees && snap_index > lowest) {
    absl::StatusOr<log::Record> at_snapshot = log_raw_->Read(OffsetOfIndex(snap_index));
    if (!at_snapshot.ok()) return at_snapshot.status();
    agrees = at_snapshot->term == snapshot_.meta.term;
  }
  if (!agrees) {
    // A crash inside ApplySnapshot, after the snapshot file was written.
    if (absl::Status s = ResetLog(snap_index); !s.ok()) return s;
  }
  if (LastIndex() == snap_index) {
    last_term_ = snapshot_.meta.term;
  } else {
    absl::StatusOr<log::Record> last = log_raw_->Read(OffsetOfIndex(LastIndex()));
    if (!last.ok()) return last.status();
    last_term_ = last->term;
  }

  HardState& hs = state_.hard_state;
  const uint64_t commit = std::min(std::max(hs.commit, snap_index), LastIndex());
  if (commit != hs.commit) {
    hs.commit = commit;
    write_state = true;
  }
  return write_state ? WriteState() : absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<log::Log>> LogStorage::OpenLog(uint64_t initial_offset) const {
  log::Options options = options_.log;
  options.initial_offset = initial_offset;
  absl::StatusOr<std::unique_ptr<log::Log>> log = log::Log::Open(dir_ / "log", options);
  if (!log.ok()) return log.status();
  return std::shared_ptr<log::Log>(*std::move(log));
}

absl::Status LogStorage::ResetLog(uint64_t snapshot_index) {
  absl::Status status = ReplaceLog(snapshot_index);
  // Without a log the storage cannot go on; the next Open finishes the job.
  if (!status.ok()) closed_ = true;
  return status;
}

absl::Status LogStorage::ReplaceLog(uint64_t snapshot_index) {
  std::shared_ptr<log::Log> old;
  {
    absl::MutexLock l(&log_mu_);
    old = std::move(log_);
    log_raw_ = nullptr;
  }
  // Its contents are being thrown away, so a failure to flush them is moot.
  if (old != nullptr) old->Close().IgnoreError();
  old.reset();
  // Rename first, so that a crash part way through removing the files never
  // leaves a log with a hole in it under the real name.
  const std::filesystem::path discard = dir_ / "log.discard";
  std::error_code ec;
  std::filesystem::remove_all(discard, ec);
  std::filesystem::rename(dir_ / "log", discard, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("rename ", (dir_ / "log").string(), " to ",
                                            discard.string(), ": ", ec.message()));
  }
  if (absl::Status s = internal::SyncDirectory(dir_); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<log::Log>> log = OpenLog(snapshot_index);
  if (!log.ok()) return log.status();
  if ((*log)->NextOffset() != snapshot_index) {
    return absl::InternalError(absl::StrCat("new raft log starts at offset ", (*log)->NextOffset(),
                                            ", not ", snapshot_index));
  }
  {
    absl::MutexLock l(&log_mu_);
    log_ = *std::move(log);
    log_raw_ = log_.get();
  }
  std::filesystem::remove_all(discard, ec);  // leftovers are removed by the next Open
  return absl::OkStatus();
}

absl::Status LogStorage::WriteState() {
  if (absl::Status s = state_file_.Write(EncodePersistentState(state_)); !s.ok()) return s;
  state_dirty_ = false;
  commit_dirty_ = false;
  return absl::OkStatus();
}

absl::Status LogStorage::CheckOpen() const {
  if (closed_) return absl::FailedPreconditionError("raft storage is closed");
  return absl::OkStatus();
}

std::shared_ptr<log::Log> LogStorage::SharedLog() const {
  absl::MutexLock l(&log_mu_);
  return log_;
}

absl::StatusOr<InitialState> LogStorage::GetInitialState() const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  return InitialState{state_.hard_state, state_.conf_state};
}

uint64_t LogStorage::FirstIndex() const { return snapshot_.meta.index + 1; }

uint64_t LogStorage::LastIndex() const {
  // Offsets are indexes - 1, so the next offset is the last index.
  return log_raw_ == nullptr ? snapshot_.meta.index : log_raw_->NextOffset();
}

absl::StatusOr<std::vector<Entry>> LogStorage::Entries(uint64_t lo, uint64_t hi,
                                                       uint64_t max_bytes) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (lo < FirstIndex()) return absl::OutOfRangeError(absl::StrCat("index ", lo, " compacted"));
  if (hi > LastIndex() + 1 || lo > hi) {
    return absl::NotFoundError(
        absl::StrCat("entries [", lo, ",", hi, ") past last index ", LastIndex()));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  uint64_t index = lo;
  while (index < hi) {
    // The log's byte limit counts a placeholder byte for empty entries, so it
    // may stop early; the exact limit is applied below and the loop goes on.
    const uint64_t budget = max_bytes > bytes ? max_bytes - bytes : 0;
    absl::StatusOr<std::vector<log::Record>> records = log_raw_->ReadRange(
        OffsetOfIndex(index), static_cast<size_t>(hi - index), static_cast<size_t>(budget));
    if (!records.ok()) return records.status();
    for (log::Record& record : *records) {
      absl::StatusOr<Entry> entry = RecordToEntry(std::move(record));
      if (!entry.ok()) return entry.status();
      if (!out.empty() && bytes + entry->data.size() > max_bytes) return out;
      bytes += entry->data.size();
      out.push_back(*std::move(entry));
      ++index;
    }
  }
  return out;
}

absl::StatusOr<uint64_t> LogStorage::Term(uint64_t index) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const uint64_t snap = snapshot_.meta.index;
  if (index < snap) return absl::OutOfRangeError(absl::StrCat("index ", index, " compacted"));
  if (index == snap) return snapshot_.meta.term;
  const uint64_t last = LastIndex();
  if (index > last) return absl::NotFoundError(absl::StrCat("index ", index, " past end"));
  if (index == last) return last_term_;
  absl::StatusOr<log::Record> record = log_raw_->Read(OffsetOfIndex(index));
  if (!record.ok()) return record.status();
  return record->term;
}

absl::StatusOr<Snapshot> LogStorage::GetSnapshot() const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  return snapshot_;
}

absl::Status LogStorage::Append(absl::Span<const Entry> entries) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (entries.empty()) return absl::OkStatus();
  const uint64_t first = entries.front().index;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != first + i) return absl::InvalidArgumentError("entries not contiguous");
  }
  if (first > LastIndex() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("append at ", first, " leaves a gap after last index ", LastIndex()));
  }
  // Entries already covered by the snapshot are skipped: they are committed
  // and identical by Raft's log matching property.
  const size_t skip = first < FirstIndex() ? FirstIndex() - first : 0;
  if (skip >= entries.size()) return absl::OkStatus();
  const uint64_t start = first + skip;
  if (start <= LastIndex()) {
    // Durable before the replacement is written (TruncateSuffix fsyncs), so a
    // crash never shows old entries after new ones.
    if (absl::Status s = log_raw_->TruncateSuffix(OffsetOfIndex(start)); !s.ok()) return s;
    if (start - 1 == snapshot_.meta.index) {
      last_term_ = snapshot_.meta.term;
    } else {
      absl::StatusOr<log::Record> last = log_raw_->Read(OffsetOfIndex(start - 1));
      if (!last.ok()) return last.status();
      last_term_ = last->term;
    }
  }
  std::vector<log::Record> records;
  records.reserve(entries.size() - skip);
  for (size_t i = skip; i < entries.size(); ++i) records.push_back(EntryToRecord(entries[i]));
  absl::StatusOr<uint64_t> offset = log_raw_->AppendBatch(records);
  if (!offset.ok()) return offset.status();
  if (*offset != OffsetOfIndex(start)) {
    return absl::InternalError(absl::StrCat("entry ", start, " was stored at offset ", *offset));
  }
  last_term_ = entries.back().term;
  return absl::OkStatus();
}

absl::Status LogStorage::SetHardState(const HardState& state) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const HardState& old = state_.hard_state;
  if (state.term != old.term || state.vote != old.vote) {
    state_dirty_ = true;
  } else if (state.commit != old.commit) {
    commit_dirty_ = true;
  }
  state_.hard_state = state;
  return absl::OkStatus();
}

absl::Status LogStorage::SetConfState(const ConfState& conf) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (conf != state_.conf_state) state_dirty_ = true;
  state_.conf_state = conf;
  return absl::OkStatus();
}

absl::Status LogStorage::ApplySnapshot(const Snapshot& snapshot) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const uint64_t index = snapshot.meta.index;
  if (index < snapshot_.meta.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", index, " older than ", snapshot_.meta.index));
  }
  absl::StatusOr<uint64_t> term = Term(index);
  const bool agrees = term.ok() && *term == snapshot.meta.term;
  // The snapshot is durable before any entry goes: Open repairs a log that
  // disagrees with it, but could not repair a log that lost entries the old
  // snapshot did not cover.
  if (absl::Status s = snapshot_file_.Write(EncodeSnapshot(snapshot)); !s.ok()) return s;
  snapshot_ = snapshot;
  if (agrees) {
    // Keep the entries after the snapshot; drop whole segments before it.
    if (absl::Status s = log_raw_->Truncate(OffsetOfIndex(index + 1)); !s.ok()) return s;
  } else {
    if (absl::Status s = ResetLog(index); !s.ok()) return s;
    last_term_ = snapshot.meta.term;
  }
  state_.conf_state = snapshot.meta.conf;
  state_.hard_state.commit = std::max(state_.hard_state.commit, index);
  state_.snapshot_index = index;
  return WriteState();
}

absl::Status LogStorage::Compact(uint64_t index, std::string data, const ConfState& conf) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (index <= snapshot_.meta.index) return absl::OkStatus();
  if (index > LastIndex()) {
    return absl::InvalidArgumentError(
        absl::StrCat("compact at ", index, " past last index ", LastIndex()));
  }
  absl::StatusOr<uint64_t> term = Term(index);
  if (!term.ok()) return term.status();
  Snapshot snapshot{SnapshotMeta{index, *term, conf}, std::move(data)};
  if (absl::Status s = snapshot_file_.Write(EncodeSnapshot(snapshot)); !s.ok()) return s;
  snapshot_ = std::move(snapshot);
  state_.snapshot_index = index;
  if (absl::Status s = WriteState(); !s.ok()) return s;
  // Records at offsets below `index` hold the entries up to the snapshot.
  return log_raw_->Truncate(OffsetOfIndex(index + 1));
}

absl::Status LogStorage::Sync() {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  // Entries are already durable (see the header); only the state file may lag.
  return state_dirty_ ? WriteState() : absl::OkStatus();
}

absl::Status LogStorage::Close() {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  closed_ = true;
  absl::Status status;
  if (log_raw_ != nullptr && (state_dirty_ || commit_dirty_)) {
    status = WriteState();
    // A commit index alone is what a crash may lose anyway (Raft learns it
    // again), so failing to write it (say, on a full disk) does not fail Close.
    if (!state_dirty_ && !status.ok()) status = absl::OkStatus();
  }
  std::shared_ptr<log::Log> log = SharedLog();
  if (log != nullptr) {
    if (absl::Status s = log->Close(); status.ok()) status = s;
  }
  return status;
}

absl::StatusOr<OffsetTranslator> LogStorage::BuildOffsetTranslator(uint64_t next_offset,
                                                                   uint64_t through) const {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (through > LastIndex()) {
    return absl::InvalidArgumentError(
        absl::StrCat("translator through ", through, " past last index ", LastIndex()));
  }
  OffsetTranslator translator(FirstIndex(), next_offset);
  constexpr size_t kBatchRecords = 1024;
  constexpr size_t kBatchBytes = 1 << 20;
  uint64_t index = FirstIndex();
  while (index <= through) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(through - index + 1, kBatchRecords));
    absl::StatusOr<std::vector<log::Record>> records =
        log_raw_->ReadRange(OffsetOfIndex(index), want, kBatchBytes);
    if (!records.ok()) return records.status();
    for (log::Record& record : *records) {
      absl::StatusOr<Entry> entry = RecordToEntry(std::move(record));
      if (!entry.ok()) return entry.status();
      if (absl::Status s = translator.Append(index, entry->type); !s.ok()) return s;
      ++index;
    }
  }
  return translator;
}

}  // namespace proglog::raft
