#include "core/server/append_queue.h"

#include <utility>

#include "absl/status/status.h"

namespace proglog::server {

AppendQueue::AppendQueue(log::Log* log, size_t max_batch_bytes)
    : log_(log), max_batch_bytes_(max_batch_bytes), thread_([this] { Run(); }) {}

AppendQueue::~AppendQueue() { Stop(); }

absl::Status AppendQueue::Submit(std::string value, Completion done) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("server is shutting down");
  queue_.push_back(Pending{std::move(value), std::move(done)});
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
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AppendQueue* self)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return self->stopping_ || !self->queue_.empty(); },
          this));
      // Stopping still drains what was accepted: those callers are waiting.
      if (queue_.empty()) return;
      taken.swap(queue_);
    }
    AppendBatch(taken);
    taken.clear();
  }
}

void AppendQueue::AppendBatch(std::vector<Pending>& batch) {
  size_t begin = 0;
  std::vector<log::Record> records;
  while (begin < batch.size()) {
    // Split huge backlogs so one AppendBatch never buffers unbounded bytes.
    records.clear();
    size_t bytes = 0;
    size_t end = begin;
    while (end < batch.size() &&
           (end == begin || bytes + batch[end].value.size() <= max_batch_bytes_)) {
      bytes += batch[end].value.size();
      records.push_back(log::Record{std::move(batch[end].value)});
      ++end;
    }
    absl::StatusOr<uint64_t> first = log_->AppendBatch(records);
    if (!first.ok() && absl::IsInvalidArgument(first.status()) && records.size() > 1) {
      // A batch is all-or-nothing; one bad record must not fail its neighbours.
      for (size_t i = begin; i < end; ++i) batch[i].done(log_->Append(records[i - begin]));
    } else {
      for (size_t i = begin; i < end; ++i) {
        if (first.ok()) {
          batch[i].done(*first + (i - begin));
        } else {
          batch[i].done(first.status());
        }
      }
    }
    begin = end;
  }
}

}  // namespace proglog::server
