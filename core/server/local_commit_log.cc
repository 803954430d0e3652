#include "core/server/local_commit_log.h"

#include <utility>

namespace proglog::server {
namespace {

Record FromLog(log::Record record) {
  return Record{std::move(record.value), record.offset, record.term, record.type};
}

}  // namespace

LocalCommitLog::LocalCommitLog(log::Log* log, LocalCommitLogOptions options)
    : log_(log), appends_(log, options.max_batch_bytes) {}

LocalCommitLog::~LocalCommitLog() { Stop(); }

void LocalCommitLog::Stop() { appends_.Stop(); }

absl::Status LocalCommitLog::AppendBatch(std::vector<NewRecord> records, AppendDone done) {
  return appends_.Submit(std::move(records), std::move(done));
}

absl::Status LocalCommitLog::Append(NewRecord record, AppendDone done) {
  return appends_.Submit(std::move(record), std::move(done));
}

absl::StatusOr<Record> LocalCommitLog::Read(uint64_t offset) {
  absl::StatusOr<log::Record> record = log_->Read(offset);
  if (!record.ok()) return record.status();
  return FromLog(*std::move(record));
}

absl::StatusOr<std::vector<Record>> LocalCommitLog::ReadRange(uint64_t offset, size_t max_records,
                                                              size_t max_bytes) {
  absl::StatusOr<std::vector<log::Record>> records =
      log_->ReadRange(offset, max_records, max_bytes);
  if (!records.ok()) return records.status();
  std::vector<Record> out;
  out.reserve(records->size());
  for (log::Record& record : *records) out.push_back(FromLog(std::move(record)));
  return out;
}

uint64_t LocalCommitLog::LowestOffset() { return log_->LowestOffset(); }

uint64_t LocalCommitLog::NextOffset() { return log_->NextOffset(); }

uint64_t LocalCommitLog::WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) {
  return log_->WaitForOffset(offset, std::move(ready));
}

bool LocalCommitLog::CancelWait(uint64_t id) { return log_->CancelWait(id); }

}  // namespace proglog::server
