#include "core/node/replicated_log.h"

#include <pthread.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log/record_format.h"
#include "core/raft/entry_record.h"
#include "core/telemetry/trace.h"
#include "spdlog/spdlog.h"

namespace proglog::node::internal {
namespace {

// Membership is reconciled with gossip every this many ticks.
constexpr int kReconcileEveryTicks = 4;

// The state machine's snapshot data: the user offset of the first record
// after the snapshot, u64 little-endian. Empty before any snapshot.
uint64_t NextOffsetInSnapshot(const std::string& data) {
  return data.size() < 8 ? 0 : log::internal::GetFixed64(data.data());
}

// One AppendBatch: its values complete one by one on the driver thread.
struct PendingBatch {
  size_t remaining;
  uint64_t first_offset = 0;
  absl::Status status;
  server::CommitLog::AppendDone done;
  absl::Time proposed = absl::Now();
  uint64_t last_index = 0;  // the highest Raft index of its entries
};

}  // namespace

ReplicatedLog::ReplicatedLog(ReplicatedLogOptions options, raft::Transport* transport,
                             const PeerDirectory* peers)
    : options_(std::move(options)), id_(options_.raft_id), transport_(transport), peers_(peers) {}

ReplicatedLog::~ReplicatedLog() { Stop().IgnoreError(); }

absl::StatusOr<std::unique_ptr<ReplicatedLog>> ReplicatedLog::Open(const std::filesystem::path& dir,
                                                                   ReplicatedLogOptions options,
                                                                   raft::Transport* transport,
                                                                   const PeerDirectory* peers) {
  if (options.raft_id == raft::kNoNode) return absl::InvalidArgumentError("no raft id given");
  if (options.heartbeat_interval <= absl::ZeroDuration() ||
      options.election_timeout < 2 * options.heartbeat_interval) {
    return absl::InvalidArgumentError(
        absl::StrCat("raft-election-timeout (", absl::FormatDuration(options.election_timeout),
                     ") must be at least twice raft-heartbeat-interval (",
                     absl::FormatDuration(options.heartbeat_interval), "), which must be > 0"));
  }
  std::unique_ptr<ReplicatedLog> log(new ReplicatedLog(std::move(options), transport, peers));
  if (absl::Status s = log->Init(dir); !s.ok()) return s;
  return log;
}

absl::Status ReplicatedLog::Init(const std::filesystem::path& dir) {
  raft::LogStorageOptions storage_options;
  storage_options.log = options_.log;
  // The largest entry is a typed record: its value plus the type in front.
  storage_options.log.max_record_bytes += raft::kUserTypeBytes;
  raft::ConfState bootstrap;
  if (options_.bootstrap) bootstrap.voters = {id_};
  absl::StatusOr<std::unique_ptr<raft::LogStorage>> storage =
      raft::LogStorage::Open(dir, storage_options, bootstrap);
  if (!storage.ok()) return storage.status();
  storage_ = *std::move(storage);

  absl::StatusOr<raft::Snapshot> snapshot = storage_->GetSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  const uint64_t next_offset = NextOffsetInSnapshot(snapshot->data);
  absl::StatusOr<raft::OffsetTranslator> translator =
      storage_->BuildOffsetTranslator(next_offset, snapshot->meta.index);
  if (!translator.ok()) return translator.status();
  {
    absl::MutexLock lock(&translator_mu_);
    translator_ = *std::move(translator);
  }
  lowest_.store(next_offset);
  next_.store(next_offset);

  raft::Config config;
  config.id = id_;
  config.heartbeat_tick = 1;
  config.election_tick = std::max(2, static_cast<int>(absl::FDivDuration(
                                         options_.election_timeout, options_.heartbeat_interval)));
  config.random_seed = id_ ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<std::unique_ptr<raft::Raft>> raft = raft::Raft::Create(config, storage_.get());
  if (!raft.ok()) return raft.status();
  raft_ = *std::move(raft);
  driver_ = std::make_unique<raft::Driver>(raft_.get(), storage_.get(), transport_, this);
  PublishStatus(*raft_);
  return absl::OkStatus();
}

void ReplicatedLog::Start() {
  log_metrics_ = RegisterLogMetrics(options_.log.metrics,
                                    [storage = storage_.get()] { return storage->SharedLog(); });
  membership_metrics_ = RegisterMembershipMetrics(options_.log.metrics, peers_);
  {
    absl::MutexLock lock(&runner_mu_);
    if (!stop_) runner_ = Runner::kNone;
  }
  thread_ = std::thread([this] { Run(); });
  // The only voter need not wait out an election timeout (a bootstrapped node,
  // or one restarting alone): it campaigns at once, so it takes writes as
  // soon as Open returns.
  bool alone;
  {
    absl::MutexLock lock(&status_mu_);
    alone = conf_.voters.size() == 1 && conf_.voters[0] == id_;
  }
  if (!alone) return;
  driver_->EnqueueCall([](raft::Raft& raft) { raft.Campaign(); });
  WakeDriver();
  const absl::Time deadline = absl::Now() + 4 * options_.election_timeout;
  while (!IsLeader() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
}

void ReplicatedLog::Run() {
  pthread_setname_np(pthread_self(), "raft-driver");
  const absl::Duration tick = options_.heartbeat_interval;
  absl::Time next_tick = absl::Now() + tick;
  int ticks = 0;
  const bool retention = options_.log.retention_bytes > 0 || options_.log.retention_age.count() > 0;
  absl::Time next_retention = absl::Now() + options_.retention_interval;
  while (true) {
    {
      absl::MutexLock lock(&runner_mu_);
      // Asleep until inputs are queued (WakeDriver) or the next tick, and
      // then until no reader thread is running an iteration. wake_ stays set
      // meanwhile, so no reader starts another: this thread goes next.
      runner_mu_.AwaitWithDeadline(absl::Condition(
                                       +[](ReplicatedLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                         return self->stop_ || self->wake_;
                                       },
                                       this),
                                   next_tick);
      wake_ = true;
      runner_mu_.Await(absl::Condition(
          +[](ReplicatedLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return self->stop_ || self->runner_ != Runner::kReceiver;
          },
          this));
      if (stop_ || runner_ == Runner::kStopped) return;
      runner_ = Runner::kDriverThread;
      wake_ = false;
    }
    const absl::Time now = absl::Now();
    if (now >= next_tick) {
      driver_->EnqueueTick();
      next_tick = std::max(next_tick + tick, now);
      if (++ticks % kReconcileEveryTicks == 0) {
        driver_->EnqueueCall([this](raft::Raft& raft) { ReconcileMembership(raft); });
      }
      if (retention && now >= next_retention) {
        next_retention = now + options_.retention_interval;
        driver_->EnqueueCall([this](raft::Raft& raft) { ApplyRetention(raft); });
      }
    }
    const absl::Status iterated = Iterate(/*hand_over=*/true);
    EndRun(iterated);
    if (!iterated.ok()) return;
  }
}

void ReplicatedLog::ProcessReceived() {
  if (!TryBecomeRunner(Runner::kReceiver)) {
    WakeDriver();  // the runner may have taken its inputs before these came
    return;
  }
  // The queued appends are left to the driver thread (woken for them), whose
  // group commit pacing may wait, which a reader thread should not.
  EndRun(Iterate(/*hand_over=*/false));
}

void ReplicatedLog::WakeDriver() {
  absl::MutexLock lock(&runner_mu_);
  wake_ = true;
}

bool ReplicatedLog::TryBecomeRunner(Runner runner) {
  absl::MutexLock lock(&runner_mu_);
  // The driver thread, once it has inputs of its own, goes first.
  if (runner_ != Runner::kNone || wake_ || stop_) return false;
  runner_ = runner;
  return true;
}

void ReplicatedLog::EndRun(const absl::Status& iterated) {
  absl::MutexLock lock(&runner_mu_);
  runner_ = iterated.ok() ? Runner::kNone : Runner::kStopped;
}

absl::Status ReplicatedLog::Iterate(bool hand_over) {
  if (hand_over) HandOverAppends();
  const absl::Time start = absl::Now();
  do {
    if (absl::Status s = driver_->RunOnce(); !s.ok()) {
      Break(s);
      return s;
    }
    if (options_.tracing) KeepNotedFsync();
  } while (raft_->HasReady());
  NoteCommit(start);
  PublishStatus(*raft_);
  return absl::OkStatus();
}

void ReplicatedLog::Break(const absl::Status& status) {
  // Persisting or applying failed (a full or broken disk): this node stops
  // taking part rather than acknowledge what it could not keep. It keeps
  // serving reads of what it committed; a restart resumes.
  spdlog::error("raft: {}; this node stops replicating until restarted", status.ToString());
  {
    // Appends check broken_ and enqueue under this lock, so every proposal
    // accepted before it is set is answered below.
    absl::MutexLock lock(&propose_mu_);
    broken_ = status;
  }
  leader_.store(raft::kNoNode);
  driver_->FailPending(status);  // outside the lock: callbacks may append again
  FailQueuedAppends(status);
}

void ReplicatedLog::KeepNotedFsync() {
  const uint64_t last_index = storage_->LastIndex();
  if (last_index == 0) return;
  const uint64_t last_offset = raft::OffsetOfIndex(last_index);
  if (!fsyncs_.empty() && fsyncs_.back().last_offset >= last_offset) return;
  std::optional<telemetry::FsyncTiming> timing = telemetry::NotedFsyncCovering(last_offset);
  if (!timing.has_value()) return;
  fsyncs_.push_back(KeptFsync{last_offset, *timing});
  if (fsyncs_.size() > telemetry::kNotedFsyncs) fsyncs_.pop_front();
}

std::optional<telemetry::FsyncTiming> ReplicatedLog::FsyncCovering(uint64_t offset) const {
  for (const KeptFsync& kept : fsyncs_) {
    if (kept.last_offset >= offset) return kept.timing;
  }
  return std::nullopt;
}

void ReplicatedLog::NoteCommit(absl::Time start) {
  if (answered_ == 0) return;  // keep a pending wait across idle iterations
  size_t still_queued;
  {
    absl::MutexLock lock(&propose_mu_);
    still_queued = queued_.size();
  }
  // Only an fsync is worth waiting for: without one there is nothing to share.
  pacer_.Committed(answered_, start, absl::Now(), pacing_, still_queued);
  answered_ = 0;
}

void ReplicatedLog::PublishStatus(const raft::Raft& raft) {
  raft_metrics_.Record(raft, *peers_);
  const uint64_t leader = raft.Leader();
  if (leader_.exchange(leader) != leader && leader != raft::kNoNode) {
    std::optional<Peer> peer = peers_->Find(leader);
    spdlog::info("raft: leader is {} (term {})",
                 leader == id_ ? options_.node_name : (peer ? peer->name : std::to_string(leader)),
                 raft.Term());
  }
  absl::MutexLock lock(&status_mu_);
  if (!(conf_ == raft.Conf())) conf_ = raft.Conf();
}

void ReplicatedLog::ReconcileMembership(raft::Raft& raft) {
  if (raft.CurrentRole() != raft::Role::kLeader || raft.Transferee() != raft::kNoNode) return;
  const raft::ConfState& conf = raft.Conf();
  auto propose = [&](raft::ConfChange::Type type, const Peer& peer, std::string_view what) {
    absl::StatusOr<uint64_t> index = raft.ProposeConfChange(raft::ConfChange{type, peer.id});
    if (index.ok()) spdlog::info("raft: {} {} ({})", what, peer.name, peer.rpc_addr);
    return index.ok();
  };
  for (const Peer& peer : peers_->All()) {
    if (peer.id == id_ || peer.rpc_addr.empty()) continue;
    const bool member = conf.IsVoter(peer.id) || conf.IsLearner(peer.id);
    if (!member && peer.status == discovery::MemberStatus::kAlive) {
      if (propose(raft::ConfChange::Type::kAddLearner, peer, "adding learner")) return;
    } else if (member && peer.status == discovery::MemberStatus::kLeft) {
      if (propose(raft::ConfChange::Type::kRemoveNode, peer, "removing")) return;
    }
  }
  // A name that came back with an empty data dir is a new member; its old
  // incarnation will never return and leaves the configuration.
  for (const auto& [old_id, name] : peers_->Replaced()) {
    if (!conf.IsVoter(old_id) && !conf.IsLearner(old_id)) continue;
    if (raft.ProposeConfChange(raft::ConfChange{raft::ConfChange::Type::kRemoveNode, old_id})
            .ok()) {
      spdlog::info("raft: removing {}'s old incarnation (id {}): it came back with no data", name,
                   old_id);
      return;
    }
  }
  for (const uint64_t learner : conf.learners) {
    // Caught up means it has acknowledged everything committed, not merely
    // that a young log is short: a learner Raft cannot reach stays a learner.
    if (raft.MatchOf(learner) == 0 || raft.MatchOf(learner) < raft.Commit()) continue;
    std::optional<Peer> peer = peers_->Find(learner);
    if (peer && propose(raft::ConfChange::Type::kPromoteLearner, *peer, "promoting")) return;
  }
}

size_t ReplicatedLog::SegmentsOverRetention(
    const std::vector<log::Log::SegmentInfo>& segments) const {
  uint64_t total = 0;
  for (const auto& s : segments) total += s.store_bytes;
  const auto now = std::filesystem::file_time_type::clock::now();
  size_t count = 0;
  while (count + 1 < segments.size()) {  // the last segment is never removed
    const log::Log::SegmentInfo& oldest = segments[count];
    bool expired = false;
    if (options_.log.retention_age.count() > 0) {
      std::error_code error;
      const auto written = std::filesystem::last_write_time(oldest.store_path, error);
      expired = !error && written + options_.log.retention_age < now;
    }
    const bool over = options_.log.retention_bytes > 0 && total > options_.log.retention_bytes;
    if (!expired && !over) break;
    total -= oldest.store_bytes;
    ++count;
  }
  return count;
}

void ReplicatedLog::ApplyRetention(const raft::Raft& raft) {
  std::shared_ptr<log::Log> log = storage_->SharedLog();
  if (log == nullptr) return;
  const std::vector<log::Log::SegmentInfo> segments = log->Segments();
  size_t count = SegmentsOverRetention(segments);
  // Only applied entries may go behind the snapshot point: Raft index i is
  // log offset i - 1, so dropping segments below base b compacts through index b.
  while (count > 0 && segments[count].base_offset > raft.Applied()) --count;
  if (count == 0) return;
  const uint64_t index = segments[count].base_offset;
  if (index < storage_->FirstIndex()) return;
  uint64_t first_offset;
  {
    absl::MutexLock lock(&translator_mu_);
    translator_.DropBefore(index + 1);
    first_offset = translator_.FirstOffset();
  }
  std::string data(8, '\0');
  log::internal::PutFixed64(data.data(), first_offset);
  // Readers stop at the new lowest offset before the files go.
  lowest_.store(first_offset, std::memory_order_release);
  if (absl::Status s = storage_->Compact(index, std::move(data), raft.Conf()); !s.ok()) {
    spdlog::warn("retention: {}", s.ToString());
    return;
  }
  spdlog::info("retention removed {} segment(s); the log now starts at offset {}", count,
               first_offset);
}

absl::Status ReplicatedLog::TransferLeadership(absl::Duration timeout) {
  if (!IsLeader()) return absl::OkStatus();
  driver_->EnqueueCall([this](raft::Raft& raft) {
    uint64_t target = raft::kNoNode;
    uint64_t best = 0;
    for (const uint64_t voter : raft.Conf().voters) {
      if (voter == id_) continue;
      const uint64_t match = raft.MatchOf(voter);
      if (target == raft::kNoNode || match > best) {
        target = voter;
        best = match;
      }
    }
    if (target == raft::kNoNode) return;
    if (absl::Status s = raft.TransferLeadership(target); !s.ok()) {
      spdlog::warn("raft: leadership transfer: {}", s.ToString());
    }
  });
  WakeDriver();
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    {
      absl::MutexLock lock(&status_mu_);
      if (conf_.voters.size() <= 1) return absl::OkStatus();
    }
    const uint64_t leader = leader_.load();
    if (leader != id_ && leader != raft::kNoNode) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::DeadlineExceededError("leadership transfer did not complete in time");
}

absl::Status ReplicatedLog::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    if (stopped_) return absl::OkStatus();
    stopped_ = true;
  }
  {
    absl::MutexLock lock(&propose_mu_);
    if (broken_.ok()) broken_ = absl::UnavailableError("the node is stopping");
  }
  if (driver_ == nullptr) return absl::OkStatus();  // Open failed before the core existed
  {
    absl::MutexLock lock(&runner_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    // A reader thread may be running an iteration: the storage closes after.
    absl::MutexLock lock(&runner_mu_);
    runner_mu_.Await(absl::Condition(
        +[](ReplicatedLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return self->runner_ == Runner::kNone || self->runner_ == Runner::kStopped;
        },
        this));
    runner_ = Runner::kStopped;
  }
  log_metrics_.Reset();
  membership_metrics_.Reset();
  driver_->FailPending(absl::UnavailableError("the node is stopping"));
  FailQueuedAppends(absl::UnavailableError("the node is stopping"));
  {
    absl::MutexLock lock(&waits_mu_);
    waits_.clear();
  }
  return storage_->Close();
}

absl::Status ReplicatedLog::LeadershipLost() const {
  const uint64_t leader = leader_.load();
  if (leader == raft::kNoNode || leader == id_) return server::LeadershipLostError("");
  return server::LeadershipLostError(peers_->RpcAddressOf(leader));
}

absl::Status ReplicatedLog::NotLeader() const {
  const uint64_t leader = leader_.load();
  if (leader == raft::kNoNode || leader == id_) return server::NotLeaderError("");
  return server::NotLeaderError(peers_->RpcAddressOf(leader));
}

absl::Status ReplicatedLog::AppendBatch(std::vector<server::NewRecord> records, AppendDone done) {
  if (records.empty()) return absl::InvalidArgumentError("no records to append");
  for (const server::NewRecord& record : records) {
    if (record.value.size() > options_.log.max_record_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("record value of ", record.value.size(),
                                                     " bytes exceeds the maximum of ",
                                                     options_.log.max_record_bytes, " bytes"));
    }
  }
  bool wake;
  {
    absl::MutexLock lock(&propose_mu_);
    if (!broken_.ok()) return broken_;
    if (!IsLeader()) return NotLeader();
    wake = queued_.empty();
    queued_.push_back(QueuedAppend{std::move(records), std::move(done)});
  }
  // The driver thread hands queued appends to Raft (HandOverAppends); wake it
  // unless an earlier append in the queue did.
  if (wake) WakeDriver();
  return absl::OkStatus();
}

void ReplicatedLog::HandOverAppends() {
  std::vector<QueuedAppend> taken;
  {
    absl::MutexLock lock(&propose_mu_);
    if (queued_.empty()) return;
    if (std::optional<server::GroupCommitPacer::Wait> wait = pacer_.TakeWait(); wait.has_value()) {
      // Let the clients the last fsync answered join this one (group_commit_pacer.h).
      wanted_ = wait->queued;
      propose_mu_.AwaitWithDeadline(absl::Condition(
                                        +[](ReplicatedLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                          return self->queued_.size() >= self->wanted_;
                                        },
                                        this),
                                    wait->deadline);
    }
    taken.swap(queued_);
  }
  // Every value of every append goes into the same Raft iteration: a batch is
  // written to the leader's log with one append, its values adjacent.
  for (QueuedAppend& append : taken) Propose(std::move(append));
}

void ReplicatedLog::FailQueuedAppends(const absl::Status& status) {
  std::vector<QueuedAppend> taken;
  {
    absl::MutexLock lock(&propose_mu_);
    taken.swap(queued_);
  }
  for (QueuedAppend& append : taken) append.done(status);
}

void ReplicatedLog::Propose(QueuedAppend append) {
  std::vector<server::NewRecord>& records = append.records;
  auto batch = std::make_shared<PendingBatch>();
  batch->remaining = records.size();
  batch->done = std::move(append.done);
  for (size_t i = 0; i < records.size(); ++i) {
    auto [type, data] =
        raft::EncodeUserRecord(raft::UserRecord{std::move(records[i].value), records[i].type});
    driver_->EnqueueProposal(
        type, std::move(data), [this, batch, i](absl::StatusOr<uint64_t> index) {
          if (index.ok()) batch->last_index = std::max(batch->last_index, *index);
          if (!index.ok()) {
            if (batch->status.ok()) {
              batch->status =
                  absl::IsUnavailable(index.status()) ? LeadershipLost() : index.status();
            }
          } else if (i == 0) {
            absl::MutexLock l(&translator_mu_);
            absl::StatusOr<uint64_t> offset = translator_.OffsetOf(*index);
            if (offset.ok()) {
              batch->first_offset = *offset;
            } else {
              batch->status = offset.status();
            }
          }
          if (--batch->remaining > 0) return;
          ++answered_;
          if (batch->status.ok()) {
            raft_metrics_.ObserveCommit(absl::ToDoubleSeconds(absl::Now() - batch->proposed));
            // The fsync that made the last entry durable here (record offset =
            // index - 1) goes to the request's trace (core/telemetry/trace.h):
            // noted on this thread when it persisted the entries too, else
            // kept by the runner that did. Looked up only if a sampled
            // request's handler asks for it.
            const auto kept = [this](uint64_t offset) { return FsyncCovering(offset); };
            telemetry::ScopedFsyncCovering fsync_scope(raft::OffsetOfIndex(batch->last_index),
                                                       kept);
            batch->done(batch->first_offset);
          } else {
            batch->done(batch->status);
          }
        });
  }
}

absl::Status ReplicatedLog::Apply(const raft::Entry& entry) {
  uint64_t next;
  {
    absl::MutexLock lock(&translator_mu_);
    if (entry.index < translator_.NextIndex()) return absl::OkStatus();  // known already
    if (absl::Status s = translator_.Append(entry.index, entry.type); !s.ok()) return s;
    next = translator_.NextOffset();
  }
  if (raft::HoldsUserRecord(entry.type)) PublishCommitted(next);
  return absl::OkStatus();
}

absl::Status ReplicatedLog::Restore(const raft::Snapshot& snapshot) {
  raft_metrics_.CountSnapshotReceived();
  const uint64_t next = NextOffsetInSnapshot(snapshot.data);
  {
    absl::MutexLock lock(&translator_mu_);
    translator_.Reset(snapshot.meta.index + 1, next);
  }
  lowest_.store(next, std::memory_order_release);
  PublishCommitted(next);
  return absl::OkStatus();
}

void ReplicatedLog::PublishCommitted(uint64_t next) {
  next_.store(next, std::memory_order_release);
  std::vector<absl::AnyInvocable<void()>> due;
  {
    absl::MutexLock lock(&waits_mu_);
    while (!waits_.empty() && waits_.begin()->first < next) {
      due.push_back(std::move(waits_.begin()->second.second));
      waits_.erase(waits_.begin());
    }
  }
  for (auto& ready : due) ready();
}

uint64_t ReplicatedLog::WaitForOffset(uint64_t offset, absl::AnyInvocable<void()> ready) {
  uint64_t id;
  {
    absl::MutexLock lock(&waits_mu_);
    id = next_wait_id_++;
    // Checked under the lock PublishCommitted takes after raising next_, so
    // a wait is either seen by it or sees the new watermark.
    if (offset >= next_.load(std::memory_order_acquire)) {
      waits_.emplace(offset, std::make_pair(id, std::move(ready)));
      return id;
    }
  }
  ready();
  return id;
}

bool ReplicatedLog::CancelWait(uint64_t id) {
  absl::AnyInvocable<void()> dropped;  // destroyed outside the lock
  absl::MutexLock lock(&waits_mu_);
  for (auto it = waits_.begin(); it != waits_.end(); ++it) {
    if (it->second.first == id) {
      dropped = std::move(it->second.second);
      waits_.erase(it);
      return true;
    }
  }
  return false;
}

void ReplicatedLog::ConfirmEnd(absl::AnyInvocable<void(absl::Status)> done) {
  // Under propose_mu_, so Stop() (which sets broken_ there before failing the
  // driver's pending reads) never strands a read queued after it.
  absl::Status broken;
  {
    absl::MutexLock lock(&propose_mu_);
    if (broken_.ok()) {
      driver_->EnqueueRead(
          [done = std::move(done)](const absl::StatusOr<uint64_t>& applied) mutable {
            if (applied.ok()) {
              done(absl::OkStatus());  // Apply() has published every record up to it
              return;
            }
            done(absl::UnavailableError(absl::StrCat("no leader to confirm the end of the log (",
                                                     applied.status().message(), ")")));
          });
      WakeDriver();  // under propose_mu_: runner_mu_ is never held while taking it
      return;
    }
    broken = broken_;
  }
  done(absl::UnavailableError(broken.message()));
}

absl::StatusOr<server::Record> ReplicatedLog::Read(uint64_t offset) {
  absl::StatusOr<std::vector<server::Record>> records = ReadRange(offset, 1, 0);
  if (!records.ok()) return records.status();
  return std::move(records->front());
}

absl::StatusOr<std::vector<server::Record>> ReplicatedLog::ReadRange(uint64_t offset,
                                                                     size_t max_records,
                                                                     size_t max_bytes) {
  const uint64_t next = NextOffset();
  if (offset >= next) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " is past the end of the log (next offset ", next, ")"));
  }
  const uint64_t lowest = LowestOffset();
  if (offset < lowest) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " is below the lowest offset kept (", lowest, ")"));
  }
  absl::StatusOr<uint64_t> index;
  {
    absl::MutexLock lock(&translator_mu_);
    index = translator_.IndexOf(offset);
  }
  if (!index.ok()) return index.status();
  std::shared_ptr<log::Log> log = storage_->SharedLog();
  if (log == nullptr) return absl::UnavailableError("the node is stopping");
  std::vector<server::Record> out;
  uint64_t user_offset = offset;
  uint64_t bytes = 0;
  uint64_t raw = raft::OffsetOfIndex(*index);
  // Entries without a record (no-ops, membership) are skipped; they are rare.
  while (out.empty() || (out.size() < max_records && user_offset < next)) {
    absl::StatusOr<std::vector<log::Record>> records =
        log->ReadRange(raw, std::max<size_t>(1, max_records - out.size()), max_bytes);
    if (!records.ok()) {
      if (!out.empty()) break;
      return records.status();
    }
    for (log::Record& record : *records) {
      ++raw;
      absl::StatusOr<raft::Entry> entry = raft::RecordToEntry(std::move(record));
      if (!entry.ok()) return entry.status();
      if (!raft::HoldsUserRecord(entry->type)) continue;
      if (user_offset >= next) break;
      absl::StatusOr<raft::UserRecord> user =
          raft::DecodeUserRecord(entry->type, std::move(entry->data));
      if (!user.ok()) {
        return absl::DataLossError(
            absl::StrCat("Raft index ", entry->index, ": ", user.status().message()));
      }
      bytes += user->value.size();
      if (!out.empty() && (out.size() >= max_records || bytes > max_bytes)) break;
      out.push_back(server::Record{std::move(user->value), user_offset++, entry->term, user->type});
    }
    if (!out.empty() && (out.size() >= max_records || bytes > max_bytes)) break;
    if (records->empty()) break;
  }
  if (out.empty())
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is not committed"));
  return out;
}

std::vector<server::ServerInfo> ReplicatedLog::Servers() {
  raft::ConfState conf;
  {
    absl::MutexLock lock(&status_mu_);
    conf = conf_;
  }
  const uint64_t leader = leader_.load();
  std::vector<server::ServerInfo> out;
  auto add = [&](uint64_t id) {
    server::ServerInfo info;
    if (id == id_) {
      info.id = options_.node_name;
      info.rpc_addr = options_.rpc_addr;
    } else if (std::optional<Peer> peer = peers_->Find(id)) {
      info.id = peer->name;
      info.rpc_addr = peer->rpc_addr;
    } else {
      info.id = std::to_string(id);  // a member gossip has not told us about yet
    }
    info.is_leader = id == leader;
    out.push_back(std::move(info));
  };
  for (const uint64_t id : conf.voters) add(id);
  for (const uint64_t id : conf.learners) add(id);
  if (out.empty()) add(id_);  // not in any configuration yet: this node alone, no leader
  return out;
}

}  // namespace proglog::node::internal
