#include "core/raft/driver.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace proglog::raft {

Driver::Driver(Raft* raft, Storage* storage, Transport* transport, StateMachine* state_machine)
    : raft_(raft),
      storage_(storage),
      transport_(transport),
      state_machine_(state_machine),
      applied_(raft->Applied()) {
  absl::StatusOr<InitialState> initial = storage->GetInitialState();
  if (initial.ok()) persisted_ = initial->hard_state;
}

namespace {

// Messages a leader sends to replicate, which promise nothing about its own
// disk: they may leave before the leader's write of the same Ready.
bool IsReplication(MessageType type) {
  return type == MessageType::kAppend || type == MessageType::kHeartbeat ||
         type == MessageType::kSnapshotChunk;
}

}  // namespace

void Driver::EnqueueTick() {
  absl::MutexLock lock(&mu_);
  ++inputs_.ticks;
}

void Driver::EnqueueMessage(Message message) {
  absl::MutexLock lock(&mu_);
  inputs_.messages.push_back(std::move(message));
}

void Driver::EnqueueProposal(EntryType type, std::string data, ProposalDone done) {
  absl::MutexLock lock(&mu_);
  inputs_.proposals.push_back(Inputs::Proposal{std::move(data), type, std::move(done)});
}

void Driver::EnqueueRead(ReadDone done) {
  absl::MutexLock lock(&mu_);
  inputs_.reads.push_back(std::move(done));
}

void Driver::EnqueueCall(absl::AnyInvocable<void(Raft&)> call) {
  absl::MutexLock lock(&mu_);
  inputs_.calls.push_back(std::move(call));
}

bool Driver::WaitForInputs(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Inputs* in) { return !in->Empty(); }, &inputs_),
                              timeout);
}

absl::Status Driver::RunOnce() {
  ++iterations_;
  Inputs inputs;
  {
    absl::MutexLock lock(&mu_);
    std::swap(inputs, inputs_);
  }
  FeedInputs(std::move(inputs));
  if (!raft_->HasReady()) return absl::OkStatus();
  Ready rd = raft_->GetReady();
  // The leader's appends leave before its own write, so its fsync and the
  // followers' overlap: the core counts the leader's copy toward a commit only
  // once Advance says it is persisted. Not when this Ready changes the term or
  // vote: no message may carry a term this node has not made durable.
  const bool send_early = raft_->CurrentRole() == Role::kLeader &&
                          (!rd.hard_state || (rd.hard_state->term == persisted_.term &&
                                              rd.hard_state->vote == persisted_.vote));
  std::vector<const Message*> after_persist;
  for (const Message& m : rd.messages) {
    if (send_early && IsReplication(m.type)) {
      transport_->Send(m);
    } else {
      after_persist.push_back(&m);
    }
  }
  if (absl::Status s = Persist(rd); !s.ok()) return s;
  if (rd.hard_state) persisted_ = *rd.hard_state;
  for (const Message* m : after_persist) transport_->Send(*m);
  if (absl::Status s = ApplyCommitted(rd); !s.ok()) return s;
  for (const ReadState& rs : rd.read_states) {
    auto it = reads_.find(rs.context);
    if (it == reads_.end()) continue;  // answered too late: already failed
    it->second.index = rs.index;
    reads_waiting_apply_.push_back(std::move(it->second));
    reads_.erase(it);
  }
  FinishReads();
  raft_->Advance(rd);
  return absl::OkStatus();
}

void Driver::FeedInputs(Inputs inputs) {
  for (int i = 0; i < inputs.ticks; ++i) raft_->Tick();
  for (const Message& m : inputs.messages) {
    if (!raft_->Step(m).ok()) ++rejected_messages_;
  }
  for (auto& call : inputs.calls) call(*raft_);
  // Proposals are appended back to back; the core sends them in one batch.
  for (auto& [data, type, done] : inputs.proposals) {
    auto index = raft_->Propose(std::move(data), type);
    if (!index.ok()) {
      done(index.status());
      continue;
    }
    proposals_[*index] = PendingProposal{raft_->Term(), std::move(done)};
  }
  // Before the new reads join: their clock starts with the next tick.
  ExpireReads(inputs.ticks);
  for (ReadDone& done : inputs.reads) {
    const uint64_t context = next_read_context_++;
    if (absl::Status s = raft_->ReadIndex(context); !s.ok()) {
      done(s);
      continue;
    }
    reads_[context] = PendingRead{std::move(done), raft_->Term(), raft_->Leader()};
  }
}

void Driver::ExpireReads(int ticks) {
  const int limit = kReadTimeoutElectionTimeouts * raft_->ElectionTick();
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& read = it->second;
    read.ticks += ticks;
    // A leader that stepped down, or a leader this node no longer follows, may
    // never answer: fail now rather than at the timeout.
    if (read.term != raft_->Term() || read.leader != raft_->Leader()) {
      read.done(absl::UnavailableError("the leader changed before confirming the read point"));
    } else if (read.ticks > limit) {
      read.done(absl::UnavailableError("no answer from the leader to confirm the read point"));
    } else {
      ++it;
      continue;
    }
    it = reads_.erase(it);
  }
  for (size_t i = 0; i < reads_waiting_apply_.size();) {
    PendingRead& read = reads_waiting_apply_[i];
    read.ticks += ticks;
    if (read.ticks <= limit) {
      ++i;
      continue;
    }
    read.done(absl::UnavailableError(
        absl::StrCat("this node has not applied the read point ", read.index, " in time")));
    reads_waiting_apply_[i] = std::move(reads_waiting_apply_.back());
    reads_waiting_apply_.pop_back();
  }
}

absl::Status Driver::Persist(const Ready& rd) {
  if (rd.snapshot) {
    if (absl::Status s = storage_->ApplySnapshot(*rd.snapshot); !s.ok()) return s;
  }
  if (absl::Status s = storage_->Append(rd.entries); !s.ok()) return s;
  if (rd.hard_state) {
    if (absl::Status s = storage_->SetHardState(*rd.hard_state); !s.ok()) return s;
  }
  if (rd.conf_state) {
    if (absl::Status s = storage_->SetConfState(*rd.conf_state); !s.ok()) return s;
  }
  // One sync for everything this iteration wrote: group commit.
  return storage_->Sync();
}

absl::Status Driver::ApplyCommitted(const Ready& rd) {
  if (rd.snapshot) {
    if (absl::Status s = state_machine_->Restore(*rd.snapshot); !s.ok()) return s;
    applied_ = rd.snapshot->meta.index;
    // Proposals covered by a snapshot from another leader are unknowable here.
    for (auto it = proposals_.begin(); it != proposals_.end() && it->first <= applied_;) {
      it->second.done(absl::AbortedError("replaced by a snapshot; outcome unknown"));
      it = proposals_.erase(it);
    }
  }
  for (const Entry& e : rd.committed_entries) {
    if (absl::Status s = state_machine_->Apply(e); !s.ok()) return s;
    applied_ = e.index;
    auto it = proposals_.find(e.index);
    if (it == proposals_.end()) continue;
    if (it->second.term == e.term) {
      it->second.done(e.index);
    } else {
      it->second.done(absl::AbortedError("entry replaced by a newer leader"));
    }
    proposals_.erase(it);
  }
  return absl::OkStatus();
}

void Driver::FailPending(const absl::Status& status) {
  Inputs queued;
  {
    absl::MutexLock lock(&mu_);
    std::swap(queued, inputs_);
  }
  for (auto& proposal : queued.proposals) proposal.done(status);
  for (ReadDone& done : queued.reads) done(status);
  for (auto& [index, pending] : proposals_) pending.done(status);
  proposals_.clear();
  for (auto& [context, read] : reads_) read.done(status);
  reads_.clear();
  for (PendingRead& read : reads_waiting_apply_) read.done(status);
  reads_waiting_apply_.clear();
}

void Driver::FinishReads() {
  for (size_t i = 0; i < reads_waiting_apply_.size();) {
    if (reads_waiting_apply_[i].index <= applied_) {
      reads_waiting_apply_[i].done(applied_);
      reads_waiting_apply_[i] = std::move(reads_waiting_apply_.back());
      reads_waiting_apply_.pop_back();
    } else {
      ++i;
    }
  }
}

}  // namespace proglog::raft
