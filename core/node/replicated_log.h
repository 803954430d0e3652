// core/node/replicated_log: the commit log of a clustered node. It implements
// the service's CommitLog seam over Raft: appends become Raft proposals, a
// record is readable once its entry is committed (and applied), and the Raft
// log is the data log (raft::LogStorage), so a record is on disk once per node.
// User offsets are dense: the OffsetTranslator skips no-op and membership
// entries. A record's type travels in its entry (raft::EncodeUserRecord: type 0
// as a plain kNormal entry, any other as kTypedRecord) and its term is the
// entry's: the term of the leader that appended it.
//
// One thread at a time runs the Raft core: it feeds it ticks, messages,
// proposals and calls, persists each Ready (one fsync per batch), sends, and
// applies. That is the driver thread, except that a transport reader thread
// that delivered messages runs the iteration for them itself when the driver
// thread is idle (ProcessReceived): waking another thread costs every commit
// a few tens of microseconds, more on a busy machine, twice (the follower's
// append, the leader's acknowledgment). Appends wait in a queue of this class until the driver
// thread proposes them all at once before an iteration: the values of one AppendBatch land in one
// Ready (adjacent, one write), and with Durability::kAlways the thread first waits briefly for the
// clients the last fsync answered (server::GroupCommitPacer), so concurrent clients share one fsync
// instead of taking turns. The same thread reconciles membership with gossip every few ticks when
// leading: alive members with an `rpc_addr` are added as learners and promoted once caught up;
// members that left are removed; failed members stay voters.
//
// Thread-safety: every public method is thread-safe. Callbacks (append
// completions, offset waits) run on the thread running the core (the driver
// thread or a transport reader) and must not block.
#ifndef PROGLOG_CORE_NODE_REPLICATED_LOG_H_
#define PROGLOG_CORE_NODE_REPLICATED_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/log/log.h"
#include "core/node/node_metrics.h"
#include "core/node/peer_directory.h"
#include "core/raft/driver.h"
#include "core/raft/log_storage.h"
#include "core/raft/offset_translator.h"
#include "core/raft/raft.h"
#include "core/server/commit_log.h"
#include "core/server/group_commit_pacer.h"
#include "core/telemetry/trace.h"

namespace proglog::node::internal {

struct ReplicatedLogOptions {
  std::string node_name;
  uint64_t raft_id = 0;  // from the node's identity file; required
  std::string rpc_addr;  // this node's advertised RPC address
  // Start a one-voter cluster if the storage is new.
  bool bootstrap = false;
  absl::Duration heartbeat_interval = absl::Milliseconds(50);
  absl::Duration election_timeout = absl::Milliseconds(500);
  log::Options log;
  // How often the retention limits of `log` are applied (when any is set):
  // whole oldest segments are compacted away behind a snapshot point, and a
  // follower that needs what was removed gets that snapshot.
  absl::Duration retention_interval = absl::Seconds(10);
  // The node traces its RPCs: keep each iteration's fsync timing so a
  // request completed on another thread still gets its `fsync` span. Off, a
  // commit costs nothing for tracing. Default: false.
  bool tracing = false;
};

class ReplicatedLog final : public server::CommitLog, public raft::StateMachine {
 public:
  // Opens the Raft storage in `dir` and the core. `transport` and `peers` are
  // borrowed and must outlive the log. Nothing runs until Start().
  static absl::StatusOr<std::unique_ptr<ReplicatedLog>> Open(const std::filesystem::path& dir,
                                                             ReplicatedLogOptions options,
                                                             raft::Transport* transport,
                                                             const PeerDirectory* peers);
  ~ReplicatedLog() override;

  // Starts the driver thread. The only voter of its configuration campaigns at
  // once, and Start returns when it leads (or after 4 election timeouts).
  void Start();
  // Hands leadership to the most caught-up voter and waits up to `timeout`
  // for it to take over. OK at once when not leading or alone.
  absl::Status TransferLeadership(absl::Duration timeout);
  // Stops the driver thread; pending appends fail with UNAVAILABLE. Closes the
  // storage. Idempotent.
  absl::Status Stop();

  // A message from a peer (the transport's inbound side): queued for the next
  // Raft iteration, which ProcessReceived() starts (the transport calls it
  // after the messages of one read).
  void Receive(raft::Message message) { driver_->EnqueueMessage(std::move(message)); }
  // Runs a Raft iteration for the received messages on the calling thread
  // when no other thread is running one, so a follower's append or the
  // leader's acknowledgment goes on without waking the driver thread (a
  // hand-off on every commit's path); otherwise the thread that runs
  // iterations takes them next. It may block for a persist (an fsync).
  void ProcessReceived();

  uint64_t Id() const { return id_; }
  bool IsLeader() const { return leader_.load() == id_; }
  uint64_t LeaderId() const { return leader_.load(); }

  // server::CommitLog
  absl::Status AppendBatch(std::vector<server::NewRecord> records, AppendDone done) override;
  absl::StatusOr<server::Record> Read(uint64_t offset) override;
  absl::StatusOr<std::vector<server::Record>> ReadRange(uint64_t offset, size_t max_records,
                                                        size_t max_bytes) override;
  // A ReadIndex through the driver (on a follower, answered by the leader):
  // OK once this node has applied the leader's confirmed commit index. A
  // single voter confirms at once. UNAVAILABLE when no leader is known, the
  // leader changes, or no answer comes within raft::kReadTimeoutElectionTimeouts
  // election timeouts.
  void ConfirmEnd(absl::AnyInvocable<void(absl::Status)> done) override;
  uint64_t LowestOffset() override { return lowest_.load(std::memory_order_acquire); }
  uint64_t NextOffset() override { return next_.load(std::memory_order_acquire); }
  uint64_t WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) override;
  bool CancelWait(uint64_t id) override;
  std::vector<server::ServerInfo> Servers() override;

  // How many fsync timings are kept for trace spans (none without
  // ReplicatedLogOptions::tracing). Only while no iteration runs (after Stop()).
  size_t KeptFsyncsForTesting() const { return fsyncs_.size(); }

  // raft::StateMachine, called by the thread running the core only.
  absl::Status Apply(const raft::Entry& entry) override;
  absl::Status Restore(const raft::Snapshot& snapshot) override;

 private:
  ReplicatedLog(ReplicatedLogOptions options, raft::Transport* transport,
                const PeerDirectory* peers);
  absl::Status Init(const std::filesystem::path& dir);

  void Run();
  // Whoever runs Raft iterations. At most one thread at a time does: the
  // driver thread (ticks, appends, calls) or a transport reader thread
  // (ProcessReceived). kStopped: nobody will again.
  enum class Runner { kNone, kDriverThread, kReceiver, kStopped };
  // Inputs were queued for the driver: it runs an iteration once free.
  void WakeDriver();
  // Becomes the runner unless a thread already is (or the log stopped).
  bool TryBecomeRunner(Runner runner);
  // Gives the turn back; the driver thread runs next if inputs came meanwhile.
  void EndRun(const absl::Status& iterated);
  // One iteration by the runner: the queued appends (with `hand_over`), then
  // Raft iterations until the core has nothing ready. An error breaks the log.
  absl::Status Iterate(bool hand_over);
  // Persisting or applying failed: the log stops replicating (see Run()).
  void Break(const absl::Status& status);
  // Runner only: keeps the fsync the last iteration noted on this thread, so
  // a commit completed by another runner still finds it (fsync trace spans).
  // Only with options_.tracing.
  void KeepNotedFsync();
  std::optional<telemetry::FsyncTiming> FsyncCovering(uint64_t offset) const;
  void PublishStatus(const raft::Raft& raft);
  void ReconcileMembership(raft::Raft& raft);
  // How many of the oldest segments the retention limits remove now.
  size_t SegmentsOverRetention(const std::vector<log::Log::SegmentInfo>& segments) const;
  void ApplyRetention(const raft::Raft& raft);
  // A proposal this node accepted failed as it stopped leading: unknown outcome.
  absl::Status LeadershipLost() const;
  absl::Status NotLeader() const;
  // Makes offsets below `next` readable and fires the waits that became due.
  void PublishCommitted(uint64_t next);

  const ReplicatedLogOptions options_;
  const uint64_t id_;
  raft::Transport* const transport_;
  const PeerDirectory* const peers_;

  std::unique_ptr<raft::LogStorage> storage_;
  std::unique_ptr<raft::Raft> raft_;
  std::unique_ptr<raft::Driver> driver_;
  RaftMetrics raft_metrics_{options_.log.metrics};  // driver thread only
  telemetry::CollectorHandle log_metrics_;
  telemetry::CollectorHandle membership_metrics_;

  // Index -> offset map of committed entries; written by the driver thread.
  mutable absl::Mutex translator_mu_;
  raft::OffsetTranslator translator_ ABSL_GUARDED_BY(translator_mu_);

  std::atomic<uint64_t> lowest_{0};
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> leader_{raft::kNoNode};

  mutable absl::Mutex status_mu_;
  raft::ConfState conf_ ABSL_GUARDED_BY(status_mu_);

  // An accepted append waiting for the driver thread to propose it.
  struct QueuedAppend {
    std::vector<server::NewRecord> records;
    AppendDone done;
  };
  // Driver thread: proposes the queued appends (after the group commit pacer's
  // wait, if any), all in the next Raft iteration.
  void HandOverAppends();
  void Propose(QueuedAppend append);
  // Completes every queued append with `status` (the node stopped or broke).
  void FailQueuedAppends(const absl::Status& status);
  // Driver thread: tells the pacer about the iterations that started at `start`.
  void NoteCommit(absl::Time start);

  // Guards the queue of appends and broken_.
  absl::Mutex propose_mu_;
  std::vector<QueuedAppend> queued_ ABSL_GUARDED_BY(propose_mu_);
  // Appends HandOverAppends waits for (group commit pacing).
  size_t wanted_ ABSL_GUARDED_BY(propose_mu_) = 0;
  // Driver thread only: appends answered since the last NoteCommit, and the pacer.
  size_t answered_ = 0;
  server::GroupCommitPacer pacer_;
  // Pace only when every append is fsynced (Durability::kAlways).
  const bool pacing_ = options_.log.durability.mode == log::Durability::Mode::kAlways;
  // Set when the driver failed to persist or apply, or on Stop(): appends get
  // it from then on.
  absl::Status broken_ ABSL_GUARDED_BY(propose_mu_);

  absl::Mutex waits_mu_;
  std::multimap<uint64_t, std::pair<uint64_t, absl::AnyInvocable<void()>>> waits_
      ABSL_GUARDED_BY(waits_mu_);  // offset -> (id, ready)
  uint64_t next_wait_id_ ABSL_GUARDED_BY(waits_mu_) = 1;

  absl::Mutex run_mu_;
  bool stopped_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;

  absl::Mutex runner_mu_;
  Runner runner_ ABSL_GUARDED_BY(runner_mu_) = Runner::kStopped;  // kNone from Start()
  // Inputs were queued since the driver thread last began an iteration, or
  // it is due to tick: it runs next (ProcessReceived leaves it the turn).
  bool wake_ ABSL_GUARDED_BY(runner_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(runner_mu_) = false;

  // Runner only: recent fsyncs of this node's log and the last log offset each
  // made durable, oldest first (at most telemetry::kNotedFsyncs).
  struct KeptFsync {
    uint64_t last_offset;
    telemetry::FsyncTiming timing;
  };
  std::deque<KeptFsync> fsyncs_;
};

}  // namespace proglog::node::internal

#endif  // PROGLOG_CORE_NODE_REPLICATED_LOG_H_
