// core/raft/driver.h: the runtime that drives a Raft core. Other threads hand
// it inputs (ticks, messages from peers, proposals, read requests); one driver
// thread calls RunOnce() in a loop, which feeds all queued inputs to the core
// and then handles the resulting Ready in Raft's required order: persist every
// write of the iteration with a single Sync() (group commit), only then send
// messages (except a leader's replication messages, which leave before its own
// write when the Ready keeps its term and vote: leader and followers then fsync
// in parallel, and the core counts the leader's copy only once persisted),
// then apply committed entries and answer proposals and reads. The
// simulator (sim/simulator.h) runs this same class for every simulated node,
// so its seeds exercise this loop.
//
// Thread-safety: the Enqueue* methods are thread-safe and never block on I/O;
// RunOnce() must be called from one thread at a time. Completion callbacks run
// on the driver thread and must not block.
#ifndef PROGLOG_CORE_RAFT_DRIVER_H_
#define PROGLOG_CORE_RAFT_DRIVER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/raft/raft.h"
#include "core/raft/storage.h"

namespace proglog::raft {

// Delivers messages to peers. Send must not block (queue and return); a lost
// message is fine, Raft retries.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(const Message& message) = 0;
};

// The replicated state machine: for proglog, the user-visible log.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  virtual absl::Status Apply(const Entry& entry) = 0;
  virtual absl::Status Restore(const Snapshot& snapshot) = 0;
};

// Called once with the proposal's Raft index when it is applied, or an error:
// Unavailable (not the leader) or Aborted (a new leader replaced the entry).
using ProposalDone = absl::AnyInvocable<void(absl::StatusOr<uint64_t>)>;
// Called once with the index the state machine has applied past when a
// linearizable read may be served, or Unavailable.
using ReadDone = absl::AnyInvocable<void(absl::StatusOr<uint64_t>)>;

// A read that has no answer this many election timeouts (in ticks) after it
// reached the core fails with Unavailable: its request or the leader's answer
// may be lost, or the state machine may not catch up while cut off.
inline constexpr int kReadTimeoutElectionTimeouts = 2;

class Driver {
 public:
  // All pointers are borrowed and must outlive the driver. `raft` must have
  // been created over `storage`.
  Driver(Raft* raft, Storage* storage, Transport* transport, StateMachine* state_machine);

  void EnqueueTick();
  void EnqueueMessage(Message message);
  void EnqueueProposal(std::string data, ProposalDone done) {
    EnqueueProposal(EntryType::kNormal, std::move(data), std::move(done));
  }
  // A user record as an entry of kind `type` (see Raft::Propose).
  void EnqueueProposal(EntryType type, std::string data, ProposalDone done);
  // A linearizable read point (Raft::ReadIndex, on a leader or a follower).
  // `done` gets the applied index once the state machine has applied the
  // read point, or Unavailable: at once when no leader is known; when the
  // node's term or leader changes before the read point arrives (the leader
  // asked may never answer); or kReadTimeoutElectionTimeouts election
  // timeouts after the read reached the core, whatever it was waiting for.
  void EnqueueRead(ReadDone done);
  // Runs `call` on the driver thread with the core, before the next Ready is
  // taken (membership changes, leadership transfer, status snapshots).
  void EnqueueCall(absl::AnyInvocable<void(Raft&)> call);
  // Blocks until an input is queued or `timeout` passes, so a driver thread
  // sleeps between ticks instead of spinning. Returns whether inputs are queued.
  bool WaitForInputs(absl::Duration timeout);

  // One iteration. A storage or state machine error is returned and nothing of
  // that Ready is sent or acknowledged; the caller should stop the node.
  absl::Status RunOnce();

  // Once RunOnce() is no longer called (the node stops): answers every
  // proposal and read still pending or queued with `status`.
  void FailPending(const absl::Status& status);

  // Messages the core refused as malformed (counted, never fatal).
  uint64_t RejectedMessages() const { return rejected_messages_; }
  uint64_t Iterations() const { return iterations_; }

 private:
  struct Inputs {
    int ticks = 0;
    std::vector<Message> messages;
    struct Proposal {
      std::string data;
      EntryType type;
      ProposalDone done;
    };
    std::vector<Proposal> proposals;
    std::vector<ReadDone> reads;
    std::vector<absl::AnyInvocable<void(Raft&)>> calls;
    bool Empty() const {
      return ticks == 0 && messages.empty() && proposals.empty() && reads.empty() && calls.empty();
    }
  };
  struct PendingProposal {
    uint64_t term;
    ProposalDone done;
  };
  // A read fed to the core: first waiting for its read point (in reads_, with
  // the term and leader it was asked under), then for the state machine to
  // apply that point (reads_waiting_apply_).
  struct PendingRead {
    ReadDone done;
    uint64_t term = 0;
    uint64_t leader = kNoNode;
    int ticks = 0;       // ticks since the read reached the core
    uint64_t index = 0;  // the read point, once known
  };

  void FeedInputs(Inputs inputs);
  absl::Status Persist(const Ready& rd);
  absl::Status ApplyCommitted(const Ready& rd);
  void FinishReads();
  // Fails the reads that can no longer be answered (see EnqueueRead).
  void ExpireReads(int ticks);

  Raft* raft_;
  Storage* storage_;
  Transport* transport_;
  StateMachine* state_machine_;

  absl::Mutex mu_;
  Inputs inputs_ ABSL_GUARDED_BY(mu_);

  // Driver thread only.
  std::map<uint64_t, PendingProposal> proposals_;  // by Raft index
  std::map<uint64_t, PendingRead> reads_;          // by ReadIndex context
  std::vector<PendingRead> reads_waiting_apply_;
  uint64_t next_read_context_ = 1;
  uint64_t applied_ = 0;
  uint64_t rejected_messages_ = 0;
  uint64_t iterations_ = 0;
  HardState persisted_;  // the hard state storage last synced
};

}  // namespace proglog::raft

#endif  // PROGLOG_CORE_RAFT_DRIVER_H_
