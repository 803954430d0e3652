// core/server/append_queue: the single writer of a LocalCommitLog. Appends from
// every RPC are queued here; one thread drains whatever has accumulated and
// appends it with one Log::AppendBatch, so all the records that arrive while an
// fsync is in flight share the next one (group commit across streams). Because
// one thread appends in queue order, the requests of one stream get increasing
// offsets. After a batch that fsynced, the writer holds the next one back
// briefly so the clients just answered can join it (GroupCommitPacer), instead
// of two groups of clients taking turns. Internal to core/server.
//
// Thread-safety: Submit() and Stop() are thread-safe. Completions run on the
// queue's thread and must not block.
#ifndef PROGLOG_CORE_SERVER_APPEND_QUEUE_H_
#define PROGLOG_CORE_SERVER_APPEND_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/log/log.h"
#include "core/server/commit_log.h"

namespace proglog::server {

class AppendQueue {
 public:
  using Completion = absl::AnyInvocable<void(absl::StatusOr<uint64_t>)>;

  // `log` is borrowed and must outlive the queue. One batch holds at most
  // `max_batch_bytes` of values (a single larger submission still goes alone).
  AppendQueue(log::Log* log, size_t max_batch_bytes);
  ~AppendQueue();
  AppendQueue(const AppendQueue&) = delete;
  AppendQueue& operator=(const AppendQueue&) = delete;

  // Queues `record`; `done` later receives its offset or the append's error, on
  // the queue's thread. After Stop() has begun it returns Unavailable and drops
  // `done` uncalled, so callers may submit while holding their own locks. The
  // record's type is stored as log::Record::type.
  absl::Status Submit(NewRecord record, Completion done);
  // Queues `records` (at least one) to be appended together, in order, in one
  // Log::AppendBatch; `done` receives the first one's offset. As above otherwise.
  absl::Status Submit(std::vector<NewRecord> records, Completion done);
  // Appends everything already queued, then joins the thread. Idempotent.
  void Stop();

 private:
  // One submission: `record` alone, or `records` when it is not empty.
  struct Pending {
    NewRecord record;
    std::vector<NewRecord> records;
    Completion done;
  };
  void Run();
  void AppendBatch(std::vector<Pending>& batch);

  log::Log* const log_;
  const size_t max_batch_bytes_;
  absl::Mutex mu_;
  std::vector<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Submissions the writer waits for before its next batch (group commit pacing).
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_APPEND_QUEUE_H_
