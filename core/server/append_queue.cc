#include "core/server/append_queue.h"

#include <optional>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/server/group_commit_pacer.h"
#include "core/telemetry/trace.h"

namespace proglog::server {
namespace {

constexpr char kStopped[] = "commit log is stopped";

// A local log has no Raft: its store's type field holds the producer's type.
log::Record ToLogRecord(NewRecord record) {
  log::Record out;
  out.value = std::move(record.value);
  out.type = record.type;
  return out;
}

}  // namespace

AppendQueue::AppendQueue(log::Log* log, size_t max_batch_bytes)
    : log_(log), max_batch_bytes_(max_batch_bytes), thread_([this] { Run(); }) {}

AppendQueue::~AppendQueue() { Stop(); }

absl::Status AppendQueue::Submit(NewRecord record, Completion done) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError(kStopped);
  queue_.push_back(Pending{std::move(record), {}, std::move(done)});
  return absl::OkStatus();
}

absl::Status AppendQueue::Submit(std::vector<NewRecord> records, Completion done) {
  if (records.empty()) return absl::InvalidArgumentError("append of no records");
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError(kStopped);
  queue_.push_back(Pending{{}, std::move(records), std::move(done)});
  return absl::OkStatus();
}

void AppendQueue::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void AppendQueue::Run() {
  std::vector<Pending> taken;
  GroupCommitPacer pacer;
  uint64_t groups = log_->GetStats().groups;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AppendQueue* self)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return self->stopping_ || !self->queue_.empty(); },
          this));
      // Stopping still drains what was accepted: those callers are waiting.
      if (queue_.empty()) return;
      if (std::optional<GroupCommitPacer::Wait> wait = pacer.TakeWait(); wait.has_value()) {
        // Let the clients the last fsync answered join this one (group_commit_pacer.h).
        wanted_ = wait->queued;
        mu_.AwaitWithDeadline(absl::Condition(
                                  +[](AppendQueue* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return self->stopping_ || self->queue_.size() >= self->wanted_;
                                  },
                                  this),
                              wait->deadline);
      }
      taken.swap(queue_);
    }
    const absl::Time start = absl::Now();
    AppendBatch(taken);
    const absl::Time end = absl::Now();
    const uint64_t groups_now = log_->GetStats().groups;
    size_t still_queued;
    {
      absl::MutexLock lock(&mu_);
      still_queued = queue_.size();
    }
    pacer.Committed(taken.size(), start, end, groups_now != groups, still_queued);
    groups = groups_now;
    taken.clear();
  }
}

void AppendQueue::AppendBatch(std::vector<Pending>& batch) {
  size_t begin = 0;
  std::vector<log::Record> records;
  // firsts[i - begin]: index in `records` of submission i's first value.
  std::vector<size_t> firsts;
  while (begin < batch.size()) {
    // Split huge backlogs so one AppendBatch never buffers unbounded bytes; a
    // submission's values always stay together.
    records.clear();
    firsts.clear();
    size_t bytes = 0;
    size_t end = begin;
    while (end < batch.size()) {
      Pending& pending = batch[end];
      size_t pending_bytes = pending.record.value.size();
      for (const NewRecord& record : pending.records) pending_bytes += record.value.size();
      if (end > begin && bytes + pending_bytes > max_batch_bytes_) break;
      bytes += pending_bytes;
      firsts.push_back(records.size());
      if (pending.records.empty()) {
        records.push_back(ToLogRecord(std::move(pending.record)));
      } else {
        for (NewRecord& record : pending.records) {
          records.push_back(ToLogRecord(std::move(record)));
        }
      }
      ++end;
    }
    absl::StatusOr<uint64_t> first = log_->AppendBatch(records);
    // The fsync that made these records durable (durability kAlways), for the
    // requests' trace spans; lock-free, and looked up only if a sampled
    // request asks (core/telemetry/trace.h).
    std::optional<telemetry::ScopedFsyncCovering> fsync_scope;
    if (first.ok() && !records.empty()) fsync_scope.emplace(*first + records.size() - 1);
    if (!first.ok() && absl::IsInvalidArgument(first.status()) && end - begin > 1) {
      // A batch is all-or-nothing; one bad submission must not fail its neighbours.
      for (size_t i = begin; i < end; ++i) {
        const size_t from = firsts[i - begin];
        const size_t to = i + 1 < end ? firsts[i + 1 - begin] : records.size();
        batch[i].done(to - from == 1 ? log_->Append(records[from])
                                     : log_->AppendBatch(std::span<const log::Record>(
                                           records.data() + from, to - from)));
      }
    } else {
      for (size_t i = begin; i < end; ++i) {
        if (first.ok()) {
          batch[i].done(*first + firsts[i - begin]);
        } else {
          batch[i].done(first.status());
        }
      }
    }
    begin = end;
  }
}

}  // namespace proglog::server
