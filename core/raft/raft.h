// core/raft/raft.h: Raft consensus as a pure, deterministic state machine. It
// does no I/O and reads no clock: the caller feeds it ticks, messages from
// peers, proposals and read requests, and takes back a Ready describing what
// to do, in this order:
//   1. write Ready::snapshot, Ready::entries, Ready::hard_state and
//      Ready::conf_state to Storage and Sync() them (one sync for the batch);
//   2. only then send Ready::messages;
//   3. apply Ready::committed_entries (and restore Ready::snapshot) to the
//      state machine, and serve Ready::read_states once applied that far;
//   4. call Advance(ready).
// Features: elections with randomized timeouts, PreVote and CheckQuorum (with a
// leader lease), a no-op entry per new leader, batched and pipelined
// replication with conflict hints, commit only of current-term entries by a
// majority, one-at-a-time membership changes with learners, leadership
// transfer, ReadIndex (on followers too, forwarded to the leader), and
// snapshots sent in chunks.
//
// Thread-safety: none. A Raft object belongs to one driver thread.
#ifndef PROGLOG_CORE_RAFT_RAFT_H_
#define PROGLOG_CORE_RAFT_RAFT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/raft/raft_log.h"
#include "core/raft/storage.h"
#include "core/raft/types.h"

namespace proglog::raft {

// Deliberate bugs, only for proving that the simulation's checker catches them.
// Never set outside tests.
struct InjectedBugs {
  // Grant (pre)votes without checking that the candidate's log is up to date.
  bool vote_without_log_check = false;
  // Commit an entry of an earlier term as soon as a majority holds it.
  bool commit_earlier_term_by_count = false;
  // A follower answers ReadIndex with its own commit index instead of asking
  // the leader (a lagging follower then serves stale reads).
  bool follower_reads_locally = false;
};

struct Config {
  uint64_t id = kNoNode;
  // Ticks without hearing from a leader before campaigning; the actual timeout
  // is drawn from [election_tick, 2 * election_tick) on each reset.
  int election_tick = 10;
  // Ticks between a leader's heartbeats. Must be < election_tick.
  int heartbeat_tick = 1;
  bool pre_vote = true;
  // A leader steps down when it has not heard from a quorum for an election
  // timeout; followers that hear from a leader ignore votes for that long.
  bool check_quorum = true;
  // Batching: the most entries and bytes in one kAppend (1 entry = no batching).
  size_t max_entries_per_message = 256;
  uint64_t max_bytes_per_message = 1 << 20;
  // Pipelining: kAppend messages in flight per follower (1 = stop and wait).
  size_t max_inflight_messages = 16;
  // InstallSnapshot chunk size.
  size_t snapshot_chunk_bytes = 64 << 10;
  // A learner is promoted only if it is at most this many entries behind.
  uint64_t learner_max_lag = 64;
  // Seeds the election timeout jitter, so runs are reproducible.
  uint64_t random_seed = 1;
  InjectedBugs bugs;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view RoleName(Role role);

// Work for the caller; see the order of handling at the top of this file.
struct Ready {
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;
  std::optional<HardState> hard_state;
  std::optional<ConfState> conf_state;
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;
  std::vector<ReadState> read_states;

  bool Empty() const {
    return !snapshot && entries.empty() && !hard_state && !conf_state && messages.empty() &&
           committed_entries.empty() && read_states.empty();
  }
};

class Raft {
 public:
  // Restores the node from `storage` (borrowed; must outlive the Raft). A fresh
  // storage yields a follower in term 0 with the storage's bootstrap membership.
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config, const Storage* storage);

  // One unit of logical time.
  void Tick();
  // Feeds one message from a peer. InvalidArgument for a message not addressed
  // to this node or of no known sender; stale messages are ignored (ok).
  absl::Status Step(const Message& message);
  // Appends a user record as an entry of kind `type` (kNormal or kTypedRecord,
  // see EncodeUserRecord); returns its index. Unavailable when not the leader
  // or while leadership is being transferred; InvalidArgument for another kind.
  absl::StatusOr<uint64_t> Propose(std::string data, EntryType type = EntryType::kNormal);
  // Appends a membership change; returns its index. FailedPrecondition while an
  // earlier change is not yet applied, or when promoting a learner that lags.
  absl::StatusOr<uint64_t> ProposeConfChange(const ConfChange& change);
  // Asks for a linearizable read point; answered later by a ReadState carrying
  // `context`, whose index covers every entry committed before this call. The
  // leader confirms its commit index with a heartbeat round to a quorum (after
  // the first commit of its term); a follower or learner forwards the request
  // to the leader it knows (kReadIndex) and turns the answer into the
  // ReadState. Unavailable at once when this node knows no leader. A request
  // lost on the way, or dropped by a leader that steps down, is never
  // answered: the caller gives up on it (Driver fails reads after a bound).
  absl::Status ReadIndex(uint64_t context);
  // Hands leadership to `target`, a voter. Proposals are refused until the
  // transfer completes or is abandoned after an election timeout.
  absl::Status TransferLeadership(uint64_t target);
  // Starts an election now (as a timeout would).
  void Campaign();

  bool HasReady() const;
  // Collects the pending work; appends for proposals queued since the last
  // call are built here, so they travel as one batch. Inputs may keep arriving
  // while a Ready is being handled, but the next GetReady() must wait for
  // Advance(ready).
  Ready GetReady();
  void Advance(const Ready& ready);

  uint64_t Id() const { return config_.id; }
  Role CurrentRole() const { return role_; }
  uint64_t Term() const { return term_; }
  uint64_t Leader() const { return leader_; }
  int ElectionTick() const { return config_.election_tick; }
  uint64_t Vote() const { return vote_; }
  uint64_t Commit() const { return log_.Committed(); }
  uint64_t Applied() const { return log_.Applied(); }
  const ConfState& Conf() const { return conf_; }
  uint64_t Transferee() const { return transferee_; }
  const RaftLog& Log() const { return log_; }
  // Match index the leader knows for `peer` (0 if unknown or not leader).
  uint64_t MatchOf(uint64_t peer) const;
  // Snapshots this node, as leader, has sent in full and seen acknowledged.
  uint64_t SnapshotsSent() const { return snapshots_sent_; }

 private:
  // What the leader knows about one follower's log.
  struct Progress {
    enum class State : uint8_t { kProbe, kReplicate, kSnapshot };
    State state = State::kProbe;
    uint64_t match = 0;
    uint64_t next = 1;
    bool probe_sent = false;        // kProbe: one append outstanding
    std::deque<uint64_t> inflight;  // kReplicate: last index of each append in flight
    bool recent_active = false;     // heard from since the last quorum check
    uint64_t snapshot_index = 0;    // kSnapshot: snapshot being sent
    uint64_t snapshot_offset = 0;   // kSnapshot: next byte the follower wants
    bool chunk_in_flight = false;
    bool learner = false;

    bool Paused(size_t window) const;
    void BecomeProbe();
    void BecomeReplicate();
    bool MaybeUpdate(uint64_t index);
  };
  // One read request the leader serves: its own (from == Id()) or a follower's.
  struct ReadRequest {
    uint64_t from = kNoNode;
    uint64_t context = 0;
  };
  struct ReadRound {
    uint64_t round = 0;
    uint64_t index = 0;
    std::vector<ReadRequest> requests;
    std::vector<uint64_t> acks;
  };
  struct IncomingSnapshot {
    SnapshotMeta meta;
    std::string data;
  };

  Raft(const Config& config, const Storage* storage);
  absl::Status Restore();

  // Role changes.
  void BecomeFollower(uint64_t term, uint64_t leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void ResetTerm(uint64_t term);
  void ResetElectionTimeout();
  void StartElection(bool pre, bool force);
  bool Promotable() const { return conf_.IsVoter(config_.id); }
  bool InLease() const;

  // Message handling.
  void StepLeader(const Message& m);
  void StepCandidate(const Message& m);
  void StepFollower(const Message& m);
  void HandleVoteRequest(const Message& m);
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshotChunk(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void HandleSnapshotResponse(const Message& m);
  void Send(Message m);

  // Leader replication.
  void BroadcastAppend();
  bool SendAppend(uint64_t to, bool send_if_empty);
  void SendSnapshotChunk(uint64_t to, Progress& pr);
  void SendHeartbeats(uint64_t context);
  bool MaybeCommit();
  uint64_t QuorumIndex(const std::vector<uint64_t>& values) const;
  size_t Quorum() const { return conf_.voters.size() / 2 + 1; }
  void AppendAsLeader(std::vector<Entry> entries);
  void LeaderReadIndex(ReadRequest request);
  void StartReadRound(std::vector<ReadRequest> requests);
  void ReleaseReadsWaitingCommit();
  void ReleaseReads(uint64_t acked_round);
  // Answers `request` with the read point `index`: a ReadState for this
  // node's own reads, a kReadIndexResponse for a follower's.
  void AnswerRead(const ReadRequest& request, uint64_t index);

  // Membership.
  void ApplyConfChange(const Entry& entry);
  static ConfState AfterChange(const ConfState& conf, const ConfChange& cc);
  void SyncProgressWithConf();

  Config config_;
  const Storage* storage_;
  RaftLog log_;
  std::mt19937_64 rng_;

  Role role_ = Role::kFollower;
  uint64_t term_ = 0;
  uint64_t snapshots_sent_ = 0;
  uint64_t vote_ = kNoNode;
  uint64_t leader_ = kNoNode;
  ConfState conf_;
  bool conf_dirty_ = false;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  std::map<uint64_t, bool> votes_;
  std::map<uint64_t, Progress> progress_;
  uint64_t pending_conf_index_ = 0;
  uint64_t transferee_ = kNoNode;
  bool broadcast_pending_ = false;

  // ReadIndex: requests waiting for the first commit of this term, and rounds
  // waiting for a quorum of heartbeat acks.
  std::vector<ReadRequest> reads_waiting_commit_;
  std::deque<ReadRound> read_rounds_;
  uint64_t next_read_round_ = 1;
  std::vector<ReadState> read_states_;

  std::optional<IncomingSnapshot> incoming_snapshot_;
  std::vector<Message> msgs_;
  HardState persisted_hard_state_;
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_RAFT_H_
