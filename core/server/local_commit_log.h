// core/server/local_commit_log: the CommitLog of a single node, over one
// log::Log on local disk. Appends from every caller go through one writer thread
// (AppendQueue) that group-commits whatever has accumulated with one
// Log::AppendBatch, so one fsync covers all of them; an append completes once
// its records are durable under the log's durability policy. Reads, offsets and
// tail waits go straight to the Log. The producer's type is the store's type
// field (log::Record::type); term is always 0. This node is always the leader: appends are
// never refused for leadership, and Servers() is empty (this node alone).
//
// Thread-safety: every method is thread-safe (see CommitLog). Append
// completions run on the writer thread.
#ifndef PROGLOG_CORE_SERVER_LOCAL_COMMIT_LOG_H_
#define PROGLOG_CORE_SERVER_LOCAL_COMMIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "core/server/append_queue.h"
#include "core/server/commit_log.h"

namespace proglog::server {

struct LocalCommitLogOptions {
  // Bytes of values the writer thread hands the log in one AppendBatch.
  // Default: 4 MiB.
  uint64_t max_batch_bytes = 4ull << 20;
};

class LocalCommitLog final : public CommitLog {
 public:
  // `log` is borrowed: it must stay open until Stop() returns (or the
  // destructor, which stops) and outlive this object. Starts the writer thread.
  explicit LocalCommitLog(log::Log* log, LocalCommitLogOptions options = {});
  ~LocalCommitLog() override;
  LocalCommitLog(const LocalCommitLog&) = delete;
  LocalCommitLog& operator=(const LocalCommitLog&) = delete;

  // Appends and completes everything already accepted, then refuses new appends
  // with UNAVAILABLE. Reads keep working while the log is open. Idempotent.
  void Stop();

  absl::Status AppendBatch(std::vector<NewRecord> records, AppendDone done) override;
  absl::Status Append(NewRecord record, AppendDone done) override;
  absl::StatusOr<Record> Read(uint64_t offset) override;
  absl::StatusOr<std::vector<Record>> ReadRange(uint64_t offset, size_t max_records,
                                                size_t max_bytes) override;
  uint64_t LowestOffset() override;
  uint64_t NextOffset() override;
  uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) override;
  bool CancelWait(uint64_t id) override;
  std::vector<ServerInfo> Servers() override { return {}; }

 private:
  log::Log* const log_;
  AppendQueue appends_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_LOCAL_COMMIT_LOG_H_
