#include "core/raft/raft.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::raft {
namespace {

// Committed entries handed out per Ready, so one Ready stays bounded in memory.
constexpr uint64_t kMaxApplyBytesPerReady = 64 << 20;

bool FromLeader(MessageType t) {
  return t == MessageType::kAppend || t == MessageType::kHeartbeat ||
         t == MessageType::kSnapshotChunk;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

// ---- Progress ----

bool Raft::Progress::Paused(size_t window) const {
  switch (state) {
    case State::kProbe:
      return probe_sent;
    case State::kReplicate:
      return inflight.size() >= window;
    case State::kSnapshot:
      return true;
  }
  return true;
}

void Raft::Progress::BecomeProbe() {
  state = State::kProbe;
  next = match + 1;
  probe_sent = false;
  inflight.clear();
}

void Raft::Progress::BecomeReplicate() {
  state = State::kReplicate;
  next = match + 1;
  probe_sent = false;
  inflight.clear();
}

bool Raft::Progress::MaybeUpdate(uint64_t index) {
  bool updated = false;
  if (index > match) {
    match = index;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, index + 1);
  while (!inflight.empty() && inflight.front() <= index) inflight.pop_front();
  return updated;
}

// ---- Construction ----

Raft::Raft(const Config& config, const Storage* storage)
    : config_(config),
      storage_(storage),
      log_(storage),
      rng_(config.random_seed * 0x9E3779B97F4A7C15ull + config.id) {}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& config, const Storage* storage) {
  if (config.id == kNoNode) return absl::InvalidArgumentError("node id 0 is reserved");
  if (storage == nullptr) return absl::InvalidArgumentError("storage is null");
  if (config.heartbeat_tick <= 0 || config.election_tick <= config.heartbeat_tick) {
    return absl::InvalidArgumentError(absl::StrCat("need 0 < heartbeat_tick < election_tick, got ",
                                                   config.heartbeat_tick, " and ",
                                                   config.election_tick));
  }
  if (config.max_inflight_messages == 0 || config.snapshot_chunk_bytes == 0) {
    return absl::InvalidArgumentError("max_inflight_messages and snapshot_chunk_bytes must be > 0");
  }
  std::unique_ptr<Raft> raft(new Raft(config, storage));
  if (absl::Status s = raft->Restore(); !s.ok()) return s;
  return raft;
}

absl::Status Raft::Restore() {
  auto init = storage_->GetInitialState();
  if (!init.ok()) return init.status();
  conf_ = init->conf_state;
  log_.Reset(init->hard_state.commit);
  term_ = init->hard_state.term;
  vote_ = init->hard_state.vote;
  persisted_hard_state_ = init->hard_state;
  BecomeFollower(term_, kNoNode);
  return absl::OkStatus();
}

// ---- Roles ----

void Raft::ResetTerm(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetElectionTimeout();
  votes_.clear();
  transferee_ = kNoNode;
  reads_waiting_commit_.clear();
  read_rounds_.clear();
  broadcast_pending_ = false;
  progress_.clear();
}

void Raft::ResetElectionTimeout() {
  std::uniform_int_distribution<int> jitter(0, config_.election_tick - 1);
  randomized_election_timeout_ = config_.election_tick + jitter(rng_);
}

void Raft::BecomeFollower(uint64_t term, uint64_t leader) {
  ResetTerm(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Raft::BecomePreCandidate() {
  // A pre-candidate changes neither term nor vote: that is the point of PreVote.
  role_ = Role::kPreCandidate;
  votes_.clear();
  leader_ = kNoNode;
}

void Raft::BecomeCandidate() {
  ResetTerm(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  ResetTerm(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  SyncProgressWithConf();
  // No membership change until everything before this term is applied.
  pending_conf_index_ = log_.LastIndex();
  AppendAsLeader({Entry{0, 0, EntryType::kNoop, {}}});
}

bool Raft::InLease() const {
  return config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_tick;
}

void Raft::Campaign() {
  if (!Promotable() || role_ == Role::kLeader) return;
  StartElection(config_.pre_vote, /*force=*/false);
}

void Raft::StartElection(bool pre, bool force) {
  if (pre) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  votes_[config_.id] = true;
  if (Quorum() <= 1) {
    if (pre) {
      StartElection(false, force);
    } else {
      BecomeLeader();
    }
    return;
  }
  const uint64_t term = pre ? term_ + 1 : term_;
  for (uint64_t voter : conf_.voters) {
    if (voter == config_.id) continue;
    Message m;
    m.type = pre ? MessageType::kPreVote : MessageType::kVote;
    m.to = voter;
    m.term = term;
    m.index = log_.LastIndex();
    m.log_term = log_.LastTerm();
    m.force = force;
    Send(std::move(m));
  }
}

// ---- Ticks ----

void Raft::Tick() {
  if (role_ != Role::kLeader) {
    ++election_elapsed_;
    if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
      election_elapsed_ = 0;
      Campaign();
    }
    return;
  }
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      size_t active = 0;
      for (auto& [peer, pr] : progress_) {
        if (conf_.IsVoter(peer) && (peer == config_.id || pr.recent_active)) ++active;
        pr.recent_active = false;
      }
      if (active < Quorum()) {
        BecomeFollower(term_, kNoNode);
        return;
      }
    }
    transferee_ = kNoNode;  // a transfer that did not finish in time is abandoned
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    SendHeartbeats(read_rounds_.empty() ? 0 : read_rounds_.back().round);
  }
}

// ---- Inbound messages ----

absl::Status Raft::Step(const Message& m) {
  if (m.to != config_.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("message for node ", m.to, " delivered to node ", config_.id));
  }
  if (m.from == kNoNode || m.from == config_.id) {
    return absl::InvalidArgumentError(absl::StrCat("message from invalid sender ", m.from));
  }
  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
    // A node that heard from a leader recently ignores elections it did not
    // start: this keeps a rejoining partitioned node from deposing the leader.
    if (vote_request && !(m.type == MessageType::kVote && m.force) && InLease()) {
      return absl::OkStatus();
    }
    const bool future_term_we_asked_for =
        m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResponse && !m.reject);
    if (!future_term_we_asked_for) {
      BecomeFollower(m.term, FromLeader(m.type) ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) && FromLeader(m.type)) {
      // Tell a stale leader about the newer term so it steps down.
      Message r;
      r.type = MessageType::kAppendResponse;
      r.to = m.from;
      Send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResponse;
      r.to = m.from;
      r.reject = true;
      Send(std::move(r));
    }
    return absl::OkStatus();
  }
  if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
    HandleVoteRequest(m);
    return absl::OkStatus();
  }
  switch (role_) {
    case Role::kLeader:
      StepLeader(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      StepCandidate(m);
      break;
    case Role::kFollower:
      StepFollower(m);
      break;
  }
  return absl::OkStatus();
}

void Raft::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  const bool up_to_date =
      config_.bugs.vote_without_log_check || log_.IsUpToDate(m.index, m.log_term);
  Message r;
  r.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  r.to = m.from;
  if (can_vote && up_to_date) {
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  Send(std::move(r));
}

void Raft::StepCandidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshotChunk:
      BecomeFollower(m.term, m.from);
      StepFollower(m);
      return;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: {
      const bool pre = role_ == Role::kPreCandidate;
      if (pre != (m.type == MessageType::kPreVoteResponse)) return;
      votes_.emplace(m.from, !m.reject);
      size_t granted = 0, rejected = 0;
      for (uint64_t voter : conf_.voters) {
        auto it = votes_.find(voter);
        if (it == votes_.end()) continue;
        ++(it->second ? granted : rejected);
      }
      if (granted >= Quorum()) {
        if (pre) {
          StartElection(false, false);
        } else {
          BecomeLeader();
        }
      } else if (conf_.voters.size() - rejected < Quorum()) {
        BecomeFollower(term_, kNoNode);
      }
      return;
    }
    default:
      return;
  }
}

void Raft::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleAppend(m);
      return;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleHeartbeat(m);
      return;
    case MessageType::kSnapshotChunk:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleSnapshotChunk(m);
      return;
    case MessageType::kTimeoutNow:
      // The leader hands over: campaign at once, skipping PreVote and the lease.
      if (Promotable()) StartElection(false, /*force=*/true);
      return;
    case MessageType::kReadIndexResponse:
      // The leader of this term confirmed the read point after our request
      // reached it: serving at that index is linearizable here too.
      read_states_.push_back({m.context, m.index});
      return;
    default:
      return;
  }
}

void Raft::HandleAppend(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResponse;
  r.to = m.from;
  if (m.index < log_.Committed()) {
    r.index = log_.Committed();
    Send(std::move(r));
    return;
  }
  if (auto last = log_.MaybeAppend(m.index, m.log_term, m.entries)) {
    log_.CommitTo(std::min(m.commit, *last));
    r.index = *last;
  } else {
    const uint64_t hint = log_.FindConflictByTerm(std::min(m.index, log_.LastIndex()), m.log_term);
    r.index = m.index;
    r.reject = true;
    r.reject_hint = hint;
    r.hint_term = log_.TermOrZero(hint);
  }
  Send(std::move(r));
}

void Raft::HandleHeartbeat(const Message& m) {
  log_.CommitTo(m.commit);
  Message r;
  r.type = MessageType::kHeartbeatResponse;
  r.to = m.from;
  r.context = m.context;
  Send(std::move(r));
}

void Raft::HandleSnapshotChunk(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  Message r;
  r.to = m.from;
  if (meta.index <= log_.Committed()) {
    incoming_snapshot_.reset();
    r.type = MessageType::kAppendResponse;
    r.index = log_.Committed();
    Send(std::move(r));
    return;
  }
  r.type = MessageType::kSnapshotResponse;
  r.index = meta.index;
  if (m.chunk_offset == 0) incoming_snapshot_ = IncomingSnapshot{meta, {}};
  if (!incoming_snapshot_ || !(incoming_snapshot_->meta == meta) ||
      incoming_snapshot_->data.size() != m.chunk_offset) {
    // Lost or reordered chunk: say where to resume.
    const bool same = incoming_snapshot_ && incoming_snapshot_->meta == meta;
    r.chunk_offset = same ? incoming_snapshot_->data.size() : 0;
    Send(std::move(r));
    return;
  }
  incoming_snapshot_->data += m.chunk;
  if (!m.last_chunk) {
    r.chunk_offset = incoming_snapshot_->data.size();
    Send(std::move(r));
    return;
  }
  Snapshot snap{meta, std::move(incoming_snapshot_->data)};
  incoming_snapshot_.reset();
  if (log_.MatchTerm(meta.index, meta.term)) {
    log_.CommitTo(meta.index);  // we hold those entries already
  } else {
    log_.RestoreSnapshot(snap);
    conf_ = meta.conf;
    conf_dirty_ = true;
  }
  r.type = MessageType::kAppendResponse;
  r.index = meta.index;
  Send(std::move(r));
}

void Raft::StepLeader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppendResponse:
      HandleAppendResponse(m);
      return;
    case MessageType::kHeartbeatResponse:
      HandleHeartbeatResponse(m);
      return;
    case MessageType::kSnapshotResponse:
      HandleSnapshotResponse(m);
      return;
    case MessageType::kReadIndex:
      // Only members are answered: a stranger's request is dropped.
      if (progress_.contains(m.from)) LeaderReadIndex({m.from, m.context});
      return;
    default:
      return;
  }
}

void Raft::HandleAppendResponse(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    if (pr.state == Progress::State::kReplicate) {
      if (m.index <= pr.match) return;  // stale
      pr.BecomeProbe();
    } else if (pr.state == Progress::State::kProbe) {
      if (m.index != pr.next - 1) return;  // answer to an older probe
    } else {
      return;
    }
    uint64_t next_probe = m.reject_hint;
    if (m.hint_term > 0) next_probe = log_.FindConflictByTerm(m.reject_hint, m.hint_term);
    pr.next = std::max(std::min(m.index, next_probe + 1), pr.match + 1);
    pr.probe_sent = false;
    SendAppend(m.from, /*send_if_empty=*/true);
    return;
  }
  if (!pr.MaybeUpdate(m.index)) return;
  if (pr.state == Progress::State::kSnapshot && pr.match >= pr.snapshot_index) {
    ++snapshots_sent_;
    pr.BecomeReplicate();
  } else if (pr.state == Progress::State::kProbe) {
    pr.BecomeReplicate();
  }
  if (MaybeCommit()) ReleaseReadsWaitingCommit();
  if (m.from == transferee_ && pr.match == log_.LastIndex()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = m.from;
    Send(std::move(t));
  }
  while (SendAppend(m.from, false)) {
  }
}

void Raft::HandleHeartbeatResponse(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.probe_sent = false;
  if (pr.state == Progress::State::kReplicate &&
      pr.inflight.size() >= config_.max_inflight_messages) {
    pr.inflight.pop_front();  // the window may be stuck on a lost append
  }
  if (pr.state == Progress::State::kSnapshot) {
    SendSnapshotChunk(m.from, pr);  // resend: the last chunk may be lost
  } else if (pr.match < log_.LastIndex()) {
    SendAppend(m.from, /*send_if_empty=*/true);
  }
  if (m.context != 0 && conf_.IsVoter(m.from)) {
    for (ReadRound& rr : read_rounds_) {
      if (rr.round > m.context) break;
      if (std::find(rr.acks.begin(), rr.acks.end(), m.from) == rr.acks.end()) {
        rr.acks.push_back(m.from);
      }
    }
    ReleaseReads(m.context);
  }
}

void Raft::HandleSnapshotResponse(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.state != Progress::State::kSnapshot || m.index != pr.snapshot_index) return;
  pr.snapshot_offset = m.chunk_offset;
  SendSnapshotChunk(m.from, pr);
}

void Raft::Send(Message m) {
  m.from = config_.id;
  if (m.term == 0) m.term = term_;
  msgs_.push_back(std::move(m));
}

// ---- Leader replication ----

void Raft::AppendAsLeader(std::vector<Entry> entries) {
  uint64_t index = log_.LastIndex();
  for (Entry& e : entries) {
    e.index = ++index;
    e.term = term_;
  }
  log_.Append(entries);
  // Sent when the caller next asks for a Ready, so proposals made in between
  // travel in one batch.
  broadcast_pending_ = true;
}

void Raft::BroadcastAppend() {
  for (auto& [peer, pr] : progress_) {
    if (peer == config_.id) continue;
    while (SendAppend(peer, false)) {
    }
  }
}

bool Raft::SendAppend(uint64_t to, bool send_if_empty) {
  Progress& pr = progress_[to];
  if (pr.Paused(config_.max_inflight_messages)) return false;
  const uint64_t prev = pr.next - 1;
  auto prev_term = log_.Term(prev);
  absl::StatusOr<std::vector<Entry>> entries = std::vector<Entry>{};
  if (pr.next <= log_.LastIndex()) {
    entries = log_.Slice(pr.next, log_.LastIndex() + 1, config_.max_entries_per_message,
                         config_.max_bytes_per_message);
  }
  if (!prev_term.ok() || !entries.ok()) {
    if (absl::IsNotFound(prev_term.status())) {
      pr.BecomeProbe();  // `next` ran past our log (it was truncated): start over
      return false;
    }
    // The follower needs entries we compacted: send the snapshot instead.
    pr.state = Progress::State::kSnapshot;
    pr.inflight.clear();
    pr.snapshot_index = 0;
    SendSnapshotChunk(to, pr);
    return false;
  }
  if (entries->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.Committed();
  const bool sent_entries = !entries->empty();
  if (sent_entries) {
    const uint64_t last = entries->back().index;
    if (pr.state == Progress::State::kReplicate) {
      pr.next = last + 1;
      pr.inflight.push_back(last);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == Progress::State::kProbe) {
    pr.probe_sent = true;
  }
  m.entries = std::move(*entries);
  Send(std::move(m));
  return sent_entries && pr.state == Progress::State::kReplicate;
}

void Raft::SendSnapshotChunk(uint64_t to, Progress& pr) {
  auto snap = storage_->GetSnapshot();
  if (!snap.ok()) return;  // retried on the next heartbeat response
  if (snap->meta.index != pr.snapshot_index) {
    pr.snapshot_index = snap->meta.index;
    pr.snapshot_offset = 0;
  }
  const size_t offset = std::min<size_t>(pr.snapshot_offset, snap->data.size());
  const size_t n = std::min(config_.snapshot_chunk_bytes, snap->data.size() - offset);
  Message m;
  m.type = MessageType::kSnapshotChunk;
  m.to = to;
  m.snapshot = snap->meta;
  m.chunk_offset = offset;
  m.chunk = snap->data.substr(offset, n);
  m.last_chunk = offset + n == snap->data.size();
  Send(std::move(m));
}

void Raft::SendHeartbeats(uint64_t context) {
  for (auto& [peer, pr] : progress_) {
    if (peer == config_.id) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = peer;
    // Never past what the follower is known to hold: its tail may still differ.
    m.commit = std::min(pr.match, log_.Committed());
    m.context = context;
    Send(std::move(m));
  }
}

uint64_t Raft::QuorumIndex(const std::vector<uint64_t>& values) const {
  if (values.empty()) return 0;
  std::vector<uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  return sorted[std::min(Quorum(), sorted.size()) - 1];
}

bool Raft::MaybeCommit() {
  if (role_ != Role::kLeader || conf_.voters.empty()) return false;
  std::vector<uint64_t> matches;
  for (uint64_t voter : conf_.voters) {
    if (voter == config_.id) {
      matches.push_back(log_.PersistedLastIndex());
    } else {
      auto it = progress_.find(voter);
      matches.push_back(it == progress_.end() ? 0 : it->second.match);
    }
  }
  const uint64_t index = QuorumIndex(matches);
  if (index <= log_.Committed()) return false;
  // Raft's rule: only an entry of the current term is committed by counting
  // replicas; earlier entries commit with it.
  if (!config_.bugs.commit_earlier_term_by_count && log_.TermOrZero(index) != term_) return false;
  log_.CommitTo(index);
  return true;
}

// ---- Client requests ----

absl::StatusOr<uint64_t> Raft::Propose(std::string data, EntryType type) {
  if (!HoldsUserRecord(type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a proposal holds a user record, not entry type ", static_cast<uint32_t>(type)));
  }
  if (role_ != Role::kLeader) {
    return absl::UnavailableError(
        absl::StrCat("node ", config_.id, " is not the leader (leader ", leader_, ")"));
  }
  if (transferee_ != kNoNode) {
    return absl::UnavailableError(absl::StrCat("leadership moving to ", transferee_));
  }
  AppendAsLeader({Entry{0, 0, type, std::move(data)}});
  return log_.LastIndex();
}

absl::StatusOr<uint64_t> Raft::ProposeConfChange(const ConfChange& cc) {
  if (role_ != Role::kLeader) {
    return absl::UnavailableError(absl::StrCat("node ", config_.id, " is not the leader"));
  }
  if (transferee_ != kNoNode) return absl::UnavailableError("leadership transfer in progress");
  if (cc.node == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  if (pending_conf_index_ > log_.Applied()) {
    return absl::FailedPreconditionError("an earlier membership change is not applied yet");
  }
  const bool voter = conf_.IsVoter(cc.node), learner = conf_.IsLearner(cc.node);
  switch (cc.type) {
    case ConfChange::Type::kAddLearner:
      if (voter || learner) {
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is already a member"));
      }
      break;
    case ConfChange::Type::kPromoteLearner: {
      if (!learner) {
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is not a learner"));
      }
      const uint64_t match = MatchOf(cc.node);
      if (match + config_.learner_max_lag < log_.LastIndex()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "learner ", cc.node, " has not caught up (at ", match, " of ", log_.LastIndex(), ")"));
      }
      break;
    }
    case ConfChange::Type::kRemoveNode:
      if (!voter && !learner) {
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is not a member"));
      }
      if (voter && conf_.voters.size() == 1) {
        return absl::InvalidArgumentError("cannot remove the last voter");
      }
      break;
  }
  AppendAsLeader(
      {Entry{0, 0, EntryType::kConfChange, EncodeConfEntry(cc, AfterChange(conf_, cc))}});
  pending_conf_index_ = log_.LastIndex();
  return pending_conf_index_;
}

absl::Status Raft::ReadIndex(uint64_t context) {
  if (role_ == Role::kLeader) {
    LeaderReadIndex({config_.id, context});
    return absl::OkStatus();
  }
  if (leader_ == kNoNode) {
    return absl::UnavailableError(
        absl::StrCat("node ", config_.id, " knows no leader to confirm a read point"));
  }
  if (config_.bugs.follower_reads_locally) {
    read_states_.push_back({context, log_.Committed()});
    return absl::OkStatus();
  }
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader_;
  m.context = context;
  Send(std::move(m));
  return absl::OkStatus();
}

void Raft::LeaderReadIndex(ReadRequest request) {
  // Until an entry of this term commits, our commit index may lag the true one.
  if (log_.TermOrZero(log_.Committed()) != term_) {
    reads_waiting_commit_.push_back(request);
    return;
  }
  StartReadRound({request});
}

void Raft::ReleaseReadsWaitingCommit() {
  if (reads_waiting_commit_.empty() || log_.TermOrZero(log_.Committed()) != term_) return;
  StartReadRound(std::exchange(reads_waiting_commit_, {}));
}

void Raft::AnswerRead(const ReadRequest& request, uint64_t index) {
  if (request.from == config_.id) {
    read_states_.push_back({request.context, index});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResponse;
  m.to = request.from;
  m.context = request.context;
  m.index = index;
  Send(std::move(m));
}

void Raft::StartReadRound(std::vector<ReadRequest> requests) {
  if (Quorum() <= 1 && conf_.IsVoter(config_.id)) {
    for (const ReadRequest& r : requests) AnswerRead(r, log_.Committed());
    return;
  }
  ReadRound rr;
  rr.round = next_read_round_++;
  rr.index = log_.Committed();
  rr.requests = std::move(requests);
  if (conf_.IsVoter(config_.id)) rr.acks.push_back(config_.id);
  read_rounds_.push_back(std::move(rr));
  SendHeartbeats(read_rounds_.back().round);
}

void Raft::ReleaseReads(uint64_t acked_round) {
  // A quorum confirming round r also confirms every earlier round.
  size_t release = 0;
  for (size_t i = 0; i < read_rounds_.size() && read_rounds_[i].round <= acked_round; ++i) {
    if (read_rounds_[i].acks.size() >= Quorum()) release = i + 1;
  }
  for (size_t i = 0; i < release; ++i) {
    for (const ReadRequest& r : read_rounds_.front().requests) {
      AnswerRead(r, read_rounds_.front().index);
    }
    read_rounds_.pop_front();
  }
}

absl::Status Raft::TransferLeadership(uint64_t target) {
  if (role_ != Role::kLeader) {
    return absl::UnavailableError(absl::StrCat("node ", config_.id, " is not the leader"));
  }
  if (target == config_.id) return absl::OkStatus();
  if (!conf_.IsVoter(target)) {
    return absl::InvalidArgumentError(absl::StrCat("node ", target, " is not a voter"));
  }
  transferee_ = target;
  election_elapsed_ = 0;  // the transfer is abandoned after one election timeout
  if (MatchOf(target) == log_.LastIndex()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = target;
    Send(std::move(t));
  } else {
    SendAppend(target, /*send_if_empty=*/true);
  }
  return absl::OkStatus();
}

uint64_t Raft::MatchOf(uint64_t peer) const {
  if (role_ != Role::kLeader) return 0;
  if (peer == config_.id) return log_.PersistedLastIndex();
  auto it = progress_.find(peer);
  return it == progress_.end() ? 0 : it->second.match;
}

// ---- Membership ----

ConfState Raft::AfterChange(const ConfState& conf, const ConfChange& cc) {
  ConfState out = conf;
  auto erase = [](std::vector<uint64_t>& v, uint64_t id) {
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
  };
  switch (cc.type) {
    case ConfChange::Type::kAddLearner:
      if (!out.IsVoter(cc.node) && !out.IsLearner(cc.node)) out.learners.push_back(cc.node);
      break;
    case ConfChange::Type::kPromoteLearner:
      if (out.IsLearner(cc.node)) {
        erase(out.learners, cc.node);
        out.voters.push_back(cc.node);
      }
      break;
    case ConfChange::Type::kRemoveNode:
      erase(out.voters, cc.node);
      erase(out.learners, cc.node);
      break;
  }
  std::sort(out.voters.begin(), out.voters.end());
  std::sort(out.learners.begin(), out.learners.end());
  return out;
}

void Raft::SyncProgressWithConf() {
  if (role_ != Role::kLeader) return;
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!conf_.IsVoter(it->first) && !conf_.IsLearner(it->first)) {
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  auto add = [&](uint64_t id, bool learner) {
    auto [it, inserted] = progress_.try_emplace(id);
    if (inserted) {
      it->second.next = log_.LastIndex() + 1;
      it->second.recent_active = true;
    }
    it->second.learner = learner;
  };
  for (uint64_t id : conf_.voters) add(id, false);
  for (uint64_t id : conf_.learners) add(id, true);
}

void Raft::ApplyConfChange(const Entry& entry) {
  auto decoded = DecodeConfEntry(entry.data);
  if (!decoded.ok()) return;  // a malformed change never passed ProposeConfChange
  conf_.voters = std::move(decoded->second.voters);
  conf_.learners = std::move(decoded->second.learners);
  std::sort(conf_.voters.begin(), conf_.voters.end());
  std::sort(conf_.learners.begin(), conf_.learners.end());
  conf_.index = entry.index;
  conf_dirty_ = true;
  if (transferee_ != kNoNode && !conf_.IsVoter(transferee_)) transferee_ = kNoNode;
  if (role_ != Role::kLeader) return;
  if (!conf_.IsVoter(config_.id)) {
    BecomeFollower(term_, kNoNode);  // removed: stop leading, others will elect
    return;
  }
  SyncProgressWithConf();
  MaybeCommit();  // a smaller quorum may commit more
}

// ---- Ready / Advance ----

bool Raft::HasReady() const {
  return broadcast_pending_ || !msgs_.empty() || log_.UnstableSnapshot() ||
         !log_.UnstableEntries().empty() ||
         HardState{term_, vote_, log_.Committed()} != persisted_hard_state_ ||
         log_.HasCommittedToApply() || conf_dirty_ || !read_states_.empty();
}

Ready Raft::GetReady() {
  if (broadcast_pending_) {
    broadcast_pending_ = false;
    BroadcastAppend();
  }
  Ready rd;
  rd.snapshot = log_.UnstableSnapshot();
  rd.entries = log_.UnstableEntries();
  rd.committed_entries = log_.CommittedToApply(kMaxApplyBytesPerReady);
  for (const Entry& e : rd.committed_entries) {
    // Membership takes effect when its entry is applied; a restarted node
    // skips changes its persisted ConfState already includes.
    if (e.type == EntryType::kConfChange && e.index > conf_.index) ApplyConfChange(e);
  }
  const HardState hs{term_, vote_, log_.Committed()};
  if (hs != persisted_hard_state_) rd.hard_state = hs;
  if (conf_dirty_) {
    rd.conf_state = conf_;
    conf_dirty_ = false;
  }
  rd.messages = std::exchange(msgs_, {});
  rd.read_states = std::exchange(read_states_, {});
  return rd;
}

void Raft::Advance(const Ready& rd) {
  if (rd.snapshot) log_.StableSnapshotTo(rd.snapshot->meta.index);
  if (!rd.entries.empty()) log_.StableTo(rd.entries.back().index, rd.entries.back().term);
  if (rd.hard_state) persisted_hard_state_ = *rd.hard_state;
  if (!rd.committed_entries.empty()) log_.AppliedTo(rd.committed_entries.back().index);
  // The leader counts its own copy only once it is on disk.
  if (role_ == Role::kLeader && MaybeCommit()) ReleaseReadsWaitingCommit();
}

}  // namespace proglog::raft
