#include "core/raft/sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/raft/driver.h"
#include "core/raft/offset_translator.h"
#include "core/raft/storage.h"

namespace proglog::raft::sim {
namespace {

constexpr uint64_t kNever = UINT64_MAX;
// How many Readies a node handles in one time unit at most; the runtime's loop
// (core/node) also runs the driver again while the core has more work.
constexpr int kMaxReadiesPerUnit = 8;

uint64_t Mix(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[at + i])) << (8 * i);
  return v;
}

// One client operation, stamped with event counters for the linearizability check.
struct Op {
  bool is_read = false;
  bool on_follower = false;  // a read handed to a node that did not lead then
  uint64_t node = 0;         // the node the client handed it to
  uint64_t invoke = 0;
  uint64_t response = kNever;
  bool answered = false;  // the driver called the completion callback
  // Writes.
  std::string value;
  uint64_t index = 0;  // where it was applied, once acknowledged
  uint64_t term = 0;   // the node's term when the client handed it over
  bool acked = false;
  uint64_t log_offset = kNever;  // user offset it was applied at, if ever
  // Reads.
  uint64_t read_index = 0;  // the applied index the driver answered with
  uint64_t result = 0;      // records visible to the read
};

struct InFlight {
  uint64_t at;
  uint64_t seq;
  Message msg;
  bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

// What the state machine looks like right after applying an index.
struct AppliedRecord {
  uint64_t term = 0;
  EntryType type = EntryType::kNormal;
  uint64_t data_hash = 0;
  uint64_t next_offset = 0;
  uint64_t sm_hash = 0;
};

// A node's disk: MemoryStorage behind a seam that can crash the node inside a
// Ready, after the driver wrote it and before its Sync() made it durable.
class SimStorage final : public Storage {
 public:
  explicit SimStorage(ConfState conf) : inner_(std::move(conf)) {}

  absl::StatusOr<InitialState> GetInitialState() const override { return inner_.GetInitialState(); }
  absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                             uint64_t max_bytes) const override {
    return inner_.Entries(lo, hi, max_bytes);
  }
  absl::StatusOr<uint64_t> Term(uint64_t index) const override { return inner_.Term(index); }
  uint64_t FirstIndex() const override { return inner_.FirstIndex(); }
  uint64_t LastIndex() const override { return inner_.LastIndex(); }
  absl::StatusOr<Snapshot> GetSnapshot() const override { return inner_.GetSnapshot(); }
  absl::Status Append(absl::Span<const Entry> entries) override { return inner_.Append(entries); }
  absl::Status SetHardState(const HardState& state) override { return inner_.SetHardState(state); }
  absl::Status SetConfState(const ConfState& conf) override { return inner_.SetConfState(conf); }
  absl::Status ApplySnapshot(const Snapshot& snapshot) override {
    return inner_.ApplySnapshot(snapshot);
  }
  absl::Status Compact(uint64_t index, std::string data, const ConfState& conf) override {
    return inner_.Compact(index, std::move(data), conf);
  }
  // Fails instead of syncing when a crash is armed: the node dies with the
  // Ready's writes unsynced and nothing of it sent.
  absl::Status Sync() override {
    if (crash_armed_) {
      crash_armed_ = false;
      crashed_ = true;
      return absl::UnavailableError("simulated crash before the sync");
    }
    return inner_.Sync();
  }

  void ArmCrash(bool armed) { crash_armed_ = armed; }
  bool CrashArmed() const { return crash_armed_; }
  // Whether the last error came from an armed crash; clears it.
  bool TakeCrashed() { return std::exchange(crashed_, false); }
  bool HasUnsynced() const { return inner_.HasUnsynced(); }
  const HardState& DurableHardState() const { return inner_.DurableHardState(); }
  void DropUnsynced() { inner_.DropUnsynced(); }

 private:
  MemoryStorage inner_;
  bool crash_armed_ = false;
  bool crashed_ = false;
};

class Simulation;

// The simulated network as seen by one node's driver.
class SimTransport final : public Transport {
 public:
  SimTransport(Simulation* sim, uint64_t id) : sim_(sim), id_(id) {}
  void Send(const Message& message) override;

 private:
  Simulation* sim_;
  uint64_t id_;
};

// The replicated state machine as seen by one node's driver; it reports every
// entry applied and snapshot restored to the checker.
class SimStateMachine final : public StateMachine {
 public:
  SimStateMachine(Simulation* sim, uint64_t id) : sim_(sim), id_(id) {}
  absl::Status Apply(const Entry& entry) override;
  absl::Status Restore(const Snapshot& snapshot) override;

 private:
  Simulation* sim_;
  uint64_t id_;
};

struct Node {
  uint64_t id = 0;
  std::unique_ptr<SimStorage> storage;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<SimStateMachine> state_machine;
  // Declared after what they borrow, so they go first.
  std::unique_ptr<Raft> raft;
  std::unique_ptr<Driver> driver;
  bool up = true;
  bool inputs_queued = false;  // something was handed to the driver since its last run
  uint64_t down_until = 0;
  int tick_phase = 0;

  // The replicated state machine: the user log, summarised by its length and a hash chain.
  OffsetTranslator translator;
  uint64_t sm_hash = 0;
  uint64_t applied = 0;

  // Checker state.
  uint64_t chain_base = 0;
  std::vector<std::pair<uint64_t, uint64_t>> chain;  // (term, prefix hash) from chain_base
  bool chain_anchored = false;
  uint64_t seen_commit = 0;
  uint64_t lead_term = 0, lead_last = 0, lead_last_term = 0;
};

// Each node runs the production raft::Driver: the simulation only feeds it
// inputs (ticks, delivered messages, client calls), decides when its loop
// runs, and plays network, disk and clients around it.
class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : opt_(o), rng_(o.seed) {}
  SimResult Run();

  // Called by the nodes' drivers through SimTransport and SimStateMachine.
  void Send(uint64_t from, const Message& m);
  void Apply(Node& n, const Entry& e);
  void Restore(Node& n, const Snapshot& snap);
  Node& N(uint64_t id) { return nodes_[id - 1]; }

 private:
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  uint64_t Rand(uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  uint64_t Stamp() { return ++clock_; }
  // The driver of `n`, to hand it an input.
  Driver& Input(Node& n) {
    n.inputs_queued = true;
    return *n.driver;
  }
  void Violation(std::string what) {
    if (result_.ok) {
      result_.ok = false;
      result_.violation = absl::StrCat("t=", now_, ": ", what);
    }
  }

  Config NodeConfig(uint64_t id) const;
  void StartNode(Node& n);
  void Crash(Node& n);
  void RestoreStateMachine(Node& n, const Snapshot& snap);

  void Deliver();
  void TickNodes();
  void Faults();
  void ClientOps();
  size_t Propose(Node& n, std::string value);
  void ProposalDone(size_t op, absl::StatusOr<uint64_t> index);
  void Read(Node& n);
  void Compaction();
  void Transfers();
  void Membership();
  void RunDrivers();
  void RunDriver(Node& n);
  Node* Leader();
  void Heal();
  bool LivenessDone();

  void CheckStep();
  void CheckLogMatching(Node& n);
  void CheckCommits(Node& n);
  void FinalChecks();
  void CheckLinearizable();
  bool Member(uint64_t id);
  void Trace();

  SimOptions opt_;
  std::mt19937_64 rng_;
  SimResult result_;
  uint64_t now_ = 0;
  uint64_t clock_ = 0;
  uint64_t seq_ = 0;
  std::vector<Node> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> net_;
  std::vector<std::vector<bool>> blocked_;  // blocked_[from][to]
  uint64_t partition_until_ = 0;
  bool partitioned_ = false;
  bool healing_ = false;
  double loss_, dup_, reorder_;

  std::vector<Op> ops_;
  std::map<std::string, size_t> op_of_value_;
  std::optional<size_t> marker_;

  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<uint64_t, AppliedRecord> applied_;                      // index -> record
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> prefix_hash_;  // (index, term) -> hash
  std::map<uint64_t, uint64_t> committed_term_;                    // index -> term
  std::map<uint64_t, uint64_t> commit_seen_in_term_;               // term -> max commit index
};

void SimTransport::Send(const Message& message) { sim_->Send(id_, message); }

absl::Status SimStateMachine::Apply(const Entry& entry) {
  sim_->Apply(sim_->N(id_), entry);
  return absl::OkStatus();
}

absl::Status SimStateMachine::Restore(const Snapshot& snapshot) {
  sim_->Restore(sim_->N(id_), snapshot);
  return absl::OkStatus();
}

Config Simulation::NodeConfig(uint64_t id) const {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 2;
  c.max_entries_per_message = opt_.batching ? 64 : 1;
  c.max_inflight_messages = opt_.pipelining ? 8 : 1;
  c.snapshot_chunk_bytes = 5;  // small, so every snapshot travels in several chunks
  c.learner_max_lag = 8;
  c.random_seed = opt_.seed;
  c.bugs = opt_.bugs;
  return c;
}

void Simulation::StartNode(Node& n) {
  auto raft = Raft::Create(NodeConfig(n.id), n.storage.get());
  if (!raft.ok()) {
    Violation(absl::StrCat("node ", n.id, " failed to start: ", raft.status().ToString()));
    return;
  }
  n.raft = std::move(*raft);
  n.driver = std::make_unique<Driver>(n.raft.get(), n.storage.get(), n.transport.get(),
                                      n.state_machine.get());
  n.up = true;
  auto snap = n.storage->GetSnapshot();
  RestoreStateMachine(n, *snap);
  n.chain.clear();
  n.chain_anchored = false;
  n.seen_commit = n.raft->Commit();
  n.lead_term = 0;
}

void Simulation::RestoreStateMachine(Node& n, const Snapshot& snap) {
  if (snap.meta.index == 0) {
    n.translator.Reset(1, 0);
    n.sm_hash = 0;
    n.applied = 0;
    return;
  }
  if (snap.data.size() != 16) {
    Violation(absl::StrCat("node ", n.id, " got a snapshot of ", snap.data.size(), " bytes"));
    return;
  }
  const uint64_t next_offset = GetU64(snap.data, 0), hash = GetU64(snap.data, 8);
  auto it = applied_.find(snap.meta.index);
  if (it != applied_.end() &&
      (it->second.next_offset != next_offset || it->second.sm_hash != hash)) {
    Violation(absl::StrCat("state machine safety: node ", n.id, " restored a snapshot at ",
                           snap.meta.index, " that differs from what others applied there"));
  }
  n.translator.Reset(snap.meta.index + 1, next_offset);
  n.sm_hash = hash;
  n.applied = snap.meta.index;
}

void Simulation::Restore(Node& n, const Snapshot& snap) {
  RestoreStateMachine(n, snap);
  ++result_.snapshots_installed;
}

// A crash keeps only what was synced. The driver answers the node's pending
// proposals and reads as the runtime does when it stops: their clients never
// learn the outcome, so a write stays indeterminate (it may still commit).
void Simulation::Crash(Node& n) {
  n.up = false;
  n.inputs_queued = false;
  n.driver->FailPending(absl::UnavailableError("the node crashed"));
  n.driver.reset();
  n.raft.reset();
  n.storage->ArmCrash(false);
  n.storage->DropUnsynced();
  n.down_until = now_ + Rand(20, opt_.max_down_units);
  ++result_.crashes;
}

SimResult Simulation::Run() {
  loss_ = opt_.loss;
  dup_ = opt_.duplicate;
  reorder_ = opt_.reorder;
  ConfState conf;
  for (int i = 1; i <= opt_.nodes; ++i) conf.voters.push_back(i);
  // With membership churn, one spare node starts outside the cluster with an
  // empty log and must join as a learner, catch up and be promoted.
  const int total = opt_.nodes + (opt_.membership ? 1 : 0);
  nodes_.resize(total);
  blocked_.assign(total + 1, std::vector<bool>(total + 1, false));
  for (int i = 0; i < total; ++i) {
    Node& n = nodes_[i];
    n.id = i + 1;
    n.storage = std::make_unique<SimStorage>(i < opt_.nodes ? conf : ConfState{});
    n.transport = std::make_unique<SimTransport>(this, n.id);
    n.state_machine = std::make_unique<SimStateMachine>(this, n.id);
    n.tick_phase = static_cast<int>(Rand(0, kUnitsPerTick - 1));
    StartNode(n);
  }
  const uint64_t end =
      opt_.fault_units + static_cast<uint64_t>(opt_.liveness_ticks) * kUnitsPerTick;
  bool live = false;
  for (now_ = 0; now_ < end && result_.ok; ++now_) {
    if (now_ == static_cast<uint64_t>(opt_.fault_units)) Heal();
    if (!healing_) Faults();
    Deliver();
    TickNodes();
    if (!healing_) {
      ClientOps();
      Compaction();
      Transfers();
      Membership();
    }
    RunDrivers();
    if (opt_.check) CheckStep();
    if (healing_ && LivenessDone()) {
      live = true;
      break;
    }
  }
  result_.units = now_;
  if (result_.ok && !live) {
    Violation(absl::StrCat("liveness: no leader committed a proposal on every member within ",
                           opt_.liveness_ticks, " ticks after faults healed"));
  }
  if (result_.ok && opt_.check) FinalChecks();
  if (!result_.ok && opt_.trace) Trace();
  for (const Op& op : ops_) {
    if (op.is_read) {
      result_.reads += op.response != kNever;
      result_.follower_reads += op.response != kNever && op.on_follower;
    } else {
      ++result_.proposals;
      result_.acked += op.acked;
    }
  }
  result_.leaders = leader_of_term_.size();
  for (const auto& [index, rec] : applied_)
    result_.conf_changes += rec.type == EntryType::kConfChange;
  return result_;
}

void Simulation::Deliver() {
  while (!net_.empty() && net_.top().at <= now_) {
    // Moved out: the queue orders by (at, seq) only, and the entry goes next.
    Message m = std::move(const_cast<InFlight&>(net_.top()).msg);
    net_.pop();
    Node& to = N(m.to);
    if (!to.up || blocked_[m.from][m.to]) continue;
    Input(to).EnqueueMessage(std::move(m));
  }
}

void Simulation::TickNodes() {
  for (Node& n : nodes_) {
    if (!n.up) {
      if (now_ >= n.down_until) StartNode(n);
      continue;
    }
    if ((now_ + n.tick_phase) % kUnitsPerTick == 0) Input(n).EnqueueTick();
  }
}

void Simulation::Faults() {
  const uint64_t k = nodes_.size();
  if (opt_.crashes && Uniform() < opt_.crash_rate) {
    Node& n = N(Rand(1, k));
    // Half the crashes strike inside the node's next Ready, between its writes
    // and their sync; the others between two iterations of its loop.
    if (n.up && !n.storage->CrashArmed()) {
      if (Uniform() < 0.5) {
        n.storage->ArmCrash(true);
      } else {
        Crash(n);
      }
    }
  }
  if (partitioned_ && now_ >= partition_until_) {
    for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
    partitioned_ = false;
  }
  if (opt_.partitions && !partitioned_ && Uniform() < opt_.partition_rate) {
    partitioned_ = true;
    partition_until_ = now_ + Rand(50, 600);
    const uint64_t victim = Rand(1, k);
    switch (Rand(0, 3)) {
      case 0:  // one node cut off both ways
        for (uint64_t o = 1; o <= k; ++o) blocked_[victim][o] = blocked_[o][victim] = o != victim;
        break;
      case 1: {  // two sides
        std::vector<bool> side(k + 1);
        for (uint64_t i = 1; i <= k; ++i) side[i] = Uniform() < 0.5;
        for (uint64_t a = 1; a <= k; ++a)
          for (uint64_t b = 1; b <= k; ++b) blocked_[a][b] = side[a] != side[b];
        break;
      }
      case 2:  // one node can hear but not speak
        for (uint64_t o = 1; o <= k; ++o) blocked_[victim][o] = o != victim;
        break;
      default:  // random one-way links
        for (uint64_t a = 1; a <= k; ++a)
          for (uint64_t b = 1; b <= k; ++b) blocked_[a][b] = a != b && Uniform() < 0.3;
        break;
    }
  }
}

Node* Simulation::Leader() {
  Node* best = nullptr;
  for (Node& n : nodes_) {
    if (n.up && n.raft->CurrentRole() == Role::kLeader &&
        (best == nullptr || n.raft->Term() > best->raft->Term())) {
      best = &n;
    }
  }
  return best;
}

void Simulation::ClientOps() {
  // Clients go to whichever node believes it leads (stale leaders included,
  // as real clients would), sometimes to a random node.
  auto target = [&]() -> Node* {
    std::vector<Node*> leaders;
    for (Node& n : nodes_) {
      if (n.up && n.raft->CurrentRole() == Role::kLeader) leaders.push_back(&n);
    }
    if (!leaders.empty() && Uniform() < 0.9) return leaders[Rand(0, leaders.size() - 1)];
    Node& n = N(Rand(1, nodes_.size()));
    return n.up ? &n : nullptr;
  };
  if (Uniform() < opt_.propose_rate) {
    if (Node* n = target()) Propose(*n, absl::StrCat("v", ops_.size()));
  }
  if (Uniform() < opt_.read_rate) {
    // Reads go to any node as often as to a leader: a follower forwards its
    // ReadIndex to the leader it knows, and the checker judges those too.
    Node* n = Uniform() < 0.5 ? target() : &N(Rand(1, nodes_.size()));
    if (n != nullptr && n->up) Read(*n);
  }
}

// Hands a write to the node's driver, as the runtime's Append does.
size_t Simulation::Propose(Node& n, std::string value) {
  const size_t i = ops_.size();
  Op op;
  op.node = n.id;
  op.value = value;
  op.term = n.raft->Term();
  op.invoke = Stamp();
  op_of_value_[op.value] = i;
  ops_.push_back(std::move(op));
  Input(n).EnqueueProposal(std::move(value), [this, i](absl::StatusOr<uint64_t> index) {
    ProposalDone(i, std::move(index));
  });
  return i;
}

void Simulation::ProposalDone(size_t i, absl::StatusOr<uint64_t> index) {
  Op& w = ops_[i];
  if (w.answered) {
    Violation(absl::StrCat("proposal ", w.value, " answered twice"));
    return;
  }
  w.answered = true;
  if (!index.ok()) return;  // refused, replaced, or its node crashed: no acknowledgement
  // The driver acknowledges only once the entry it appended is applied there.
  auto rec = applied_.find(*index);
  if (rec == applied_.end() || rec->second.data_hash != HashBytes(w.value) ||
      w.log_offset == kNever) {
    Violation(absl::StrCat("node ", w.node, " acknowledged proposal ", w.value, " at index ",
                           *index, ", which does not hold it applied"));
    return;
  }
  w.index = *index;
  w.acked = true;
  w.response = Stamp();
}

// A linearizable read through the driver: answered once the node's state
// machine has applied past a ReadIndex point; it sees the log's length then.
void Simulation::Read(Node& n) {
  const size_t i = ops_.size();
  Op op;
  op.is_read = true;
  op.on_follower = n.raft->CurrentRole() != Role::kLeader;
  op.node = n.id;
  op.invoke = Stamp();
  ops_.push_back(std::move(op));
  Input(n).EnqueueRead([this, i](absl::StatusOr<uint64_t> applied) {
    Op& r = ops_[i];
    if (r.answered) {
      Violation(absl::StrCat("read ", i, " answered twice"));
      return;
    }
    r.answered = true;
    if (!applied.ok()) return;
    Node& at = N(r.node);
    if (at.applied < *applied) {
      Violation(absl::StrCat("node ", at.id, " answered a read at applied index ", *applied,
                             " but applied only ", at.applied));
      return;
    }
    r.read_index = *applied;
    r.result = at.translator.NextOffset();
    r.response = Stamp();
  });
}

// Compaction runs on the node's driver between Readies, as retention does.
void Simulation::Compaction() {
  if (!opt_.snapshots || Uniform() >= 0.004) return;
  Node& n = N(Rand(1, nodes_.size()));
  if (!n.up) return;
  Input(n).EnqueueCall([this, id = n.id](Raft& raft) {
    Node& n = N(id);
    if (n.applied < n.storage->FirstIndex() + 4) return;
    // The snapshot is "the log up to n.applied": only its length and hash, no records.
    std::string data;
    PutU64(data, n.translator.NextOffset());
    PutU64(data, n.sm_hash);
    if (absl::Status s = n.storage->Compact(n.applied, std::move(data), raft.Conf()); !s.ok()) {
      Violation(absl::StrCat("node ", n.id, " compaction failed: ", s.ToString()));
    }
  });
}

void Simulation::Transfers() {
  if (!opt_.transfers || Uniform() >= 0.001) return;
  Node* l = Leader();
  if (l == nullptr) return;
  const auto& voters = l->raft->Conf().voters;
  const uint64_t target = voters[Rand(0, voters.size() - 1)];
  if (target == l->id) return;
  Input(*l).EnqueueCall([target](Raft& raft) { (void)raft.TransferLeadership(target); });
}

void Simulation::Membership() {
  if (!opt_.membership || Uniform() >= 0.005) return;
  Node* l = Leader();
  if (l == nullptr) return;
  const uint64_t pick = Rand(0, UINT64_MAX);
  std::vector<uint64_t> ids;
  for (const Node& n : nodes_) ids.push_back(n.id);
  // Decided on the driver thread from the core's membership at that moment.
  Input(*l).EnqueueCall([pick, ids = std::move(ids)](Raft& raft) {
    const ConfState& cs = raft.Conf();
    ConfChange cc;
    std::vector<uint64_t> absent;
    for (const uint64_t id : ids) {
      if (!cs.IsVoter(id) && !cs.IsLearner(id)) absent.push_back(id);
    }
    if (!absent.empty()) {
      cc = {ConfChange::Type::kAddLearner, absent.front()};
    } else if (!cs.learners.empty()) {
      cc = {ConfChange::Type::kPromoteLearner, cs.learners.front()};
    } else {
      if (cs.voters.empty()) return;
      const uint64_t victim = cs.voters[pick % cs.voters.size()];
      if (victim == raft.Id()) return;
      cc = {ConfChange::Type::kRemoveNode, victim};
    }
    (void)raft.ProposeConfChange(cc);  // refusals (not leader, pending change, lag) are fine
  });
}

void Simulation::RunDrivers() {
  for (Node& n : nodes_) {
    if (!n.up || !result_.ok) continue;
    // The runtime's loop sleeps until an input arrives; so does the simulated one.
    if (!n.inputs_queued && !n.raft->HasReady()) continue;
    // A busy disk or thread: sometimes a node's inputs wait a unit in its queues.
    if (!healing_ && Uniform() >= 0.7) continue;
    n.inputs_queued = false;
    RunDriver(n);
  }
}

// One turn of the runtime's loop: RunOnce while the core has more to do.
void Simulation::RunDriver(Node& n) {
  for (int i = 0; i < kMaxReadiesPerUnit; ++i) {
    if (absl::Status s = n.driver->RunOnce(); !s.ok()) {
      if (n.storage->TakeCrashed()) {
        Crash(n);
      } else {
        Violation(absl::StrCat("node ", n.id, " driver failed: ", s.ToString()));
      }
      return;
    }
    if (n.driver->RejectedMessages() != 0) {
      Violation(absl::StrCat("node ", n.id, " rejected ", n.driver->RejectedMessages(),
                             " message(s) as malformed"));
      return;
    }
    if (!result_.ok || !n.raft->HasReady()) return;
  }
}

void Simulation::Send(uint64_t from, const Message& m) {
  ++result_.messages;
  // Only a leader's replication messages may leave before its writes are
  // synced (the driver overlaps its fsync with the followers'), and only in a
  // term and with a vote that are already durable.
  const bool replication = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                           m.type == MessageType::kSnapshotChunk;
  const HardState& durable = N(from).storage->DurableHardState();
  if (N(from).storage->HasUnsynced() &&
      !(replication && durable.term == m.term && durable.vote == N(from).raft->Vote())) {
    Violation(absl::StrCat("node ", from, " sent ", std::string(MessageTypeName(m.type)),
                           " before syncing its writes"));
    return;
  }
  if (Uniform() < loss_) return;
  const int copies = Uniform() < dup_ ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    uint64_t delay = Rand(1, 10);
    if (Uniform() < reorder_) delay += Rand(0, 40);
    net_.push(InFlight{now_ + delay, seq_++, m});
  }
}

void Simulation::Apply(Node& n, const Entry& e) {
  if (e.index <= n.applied) return;  // replay below a restored snapshot
  if (e.index != n.applied + 1) {
    Violation(absl::StrCat("node ", n.id, " applied index ", e.index, " after ", n.applied));
    return;
  }
  const uint64_t data_hash = HashBytes(e.data);
  uint64_t offset = n.translator.NextOffset();
  (void)n.translator.Append(e.index, e.type);
  if (e.type == EntryType::kNormal) n.sm_hash = Mix(n.sm_hash, data_hash);
  n.applied = e.index;
  AppliedRecord rec{e.term, e.type, data_hash, n.translator.NextOffset(), n.sm_hash};
  auto [it, inserted] = applied_.emplace(e.index, rec);
  if (!inserted &&
      (it->second.term != rec.term || it->second.type != rec.type ||
       it->second.data_hash != rec.data_hash || it->second.next_offset != rec.next_offset ||
       it->second.sm_hash != rec.sm_hash)) {
    Violation(absl::StrCat("state machine safety: node ", n.id, " applied (index ", e.index,
                           ", term ", e.term, ") but another node applied (term ", it->second.term,
                           ") there"));
    return;
  }
  if (e.type == EntryType::kNormal && !e.data.empty()) {
    auto op = op_of_value_.find(e.data);
    if (op == op_of_value_.end()) {
      Violation(absl::StrCat("node ", n.id, " applied a record no client proposed: ", e.data));
      return;
    }
    Op& w = ops_[op->second];
    if (w.log_offset != kNever && w.log_offset != offset) {
      Violation(
          absl::StrCat("record ", e.data, " applied at offsets ", w.log_offset, " and ", offset));
      return;
    }
    w.log_offset = offset;
  }
}

void Simulation::Heal() {
  healing_ = true;
  loss_ = dup_ = reorder_ = 0;
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  partitioned_ = false;
  for (Node& n : nodes_) {
    n.storage->ArmCrash(false);
    if (!n.up) n.down_until = now_;  // restarted by TickNodes
  }
}

bool Simulation::Member(uint64_t id) {
  Node* l = Leader();
  if (l == nullptr) return true;
  return l->raft->Conf().IsVoter(id) || l->raft->Conf().IsLearner(id);
}

bool Simulation::LivenessDone() {
  Node* l = Leader();
  if (l == nullptr) return false;
  if (marker_) {
    const Op& m = ops_[*marker_];
    Node& p = N(m.node);
    // Outstanding while unanswered and its node still leads in the term it was
    // handed over in; otherwise it may never commit: try again.
    const bool outstanding = m.acked || (!m.answered && p.up && p.raft->Term() == m.term &&
                                         p.raft->CurrentRole() == Role::kLeader);
    if (!outstanding) marker_.reset();
  }
  if (!marker_) {
    marker_ = Propose(*l, absl::StrCat("live", ops_.size()));
    return false;
  }
  const Op& m = ops_[*marker_];
  if (!m.acked) return false;
  for (Node& n : nodes_) {
    if (!Member(n.id)) continue;
    if (!n.up || n.applied < m.index) return false;
  }
  return true;
}

// ---- Checks ----

void Simulation::CheckStep() {
  for (Node& n : nodes_) {
    if (!n.up || !result_.ok) continue;
    Raft& r = *n.raft;
    if (r.CurrentRole() == Role::kLeader) {
      auto [it, inserted] = leader_of_term_.emplace(r.Term(), n.id);
      if (!inserted && it->second != n.id) {
        Violation(absl::StrCat("election safety: nodes ", it->second, " and ", n.id,
                               " both leaders in term ", r.Term()));
        return;
      }
      const RaftLog& log = r.Log();
      if (n.lead_term == r.Term()) {
        auto t = log.Term(n.lead_last);
        if (log.LastIndex() < n.lead_last || (t.ok() && *t != n.lead_last_term)) {
          Violation(absl::StrCat("leader append-only: leader ", n.id, " of term ", r.Term(),
                                 " lost or changed its entry at ", n.lead_last));
          return;
        }
      }
      n.lead_term = r.Term();
      n.lead_last = log.LastIndex();
      n.lead_last_term = log.LastTerm();
    } else {
      n.lead_term = 0;
    }
    CheckLogMatching(n);
    CheckCommits(n);
  }
  // Leader completeness: a leader of term T holds every entry known committed in a term <= T.
  for (Node& n : nodes_) {
    if (!n.up || !result_.ok || n.raft->CurrentRole() != Role::kLeader) continue;
    uint64_t c = 0;
    for (const auto& [term, index] : commit_seen_in_term_) {
      if (term > n.raft->Term()) break;
      c = std::max(c, index);
    }
    const RaftLog& log = n.raft->Log();
    if (c == 0 || c + 1 < log.FirstIndex()) continue;
    auto t = log.Term(c);
    if (!t.ok() || *t != committed_term_[c]) {
      Violation(absl::StrCat("leader completeness: leader ", n.id, " of term ", n.raft->Term(),
                             " lacks committed entry ", c, " (term ", committed_term_[c], ")"));
      return;
    }
  }
}

void Simulation::CheckLogMatching(Node& n) {
  const RaftLog& log = n.raft->Log();
  const uint64_t base = log.FirstIndex() - 1, last = log.LastIndex();
  const uint64_t base_term = log.TermOrZero(base);
  auto chain_end = [&] { return n.chain_base + n.chain.size(); };
  if (n.chain.empty() || base < n.chain_base || base >= chain_end() ||
      n.chain[base - n.chain_base].first != base_term) {
    n.chain_base = base;
    n.chain.clear();
    auto it = prefix_hash_.find({base, base_term});
    n.chain_anchored = base == 0 || it != prefix_hash_.end();
    n.chain.emplace_back(base_term, base == 0 ? 0 : (it == prefix_hash_.end() ? 0 : it->second));
  } else if (base > n.chain_base) {
    n.chain.erase(n.chain.begin(), n.chain.begin() + (base - n.chain_base));
    n.chain_base = base;
  }
  uint64_t k = std::min(chain_end() - 1, last);
  while (k > n.chain_base && log.TermOrZero(k) != n.chain[k - n.chain_base].first) --k;
  n.chain.resize(k - n.chain_base + 1);
  if (last <= k) return;
  auto entries = log.Slice(k + 1, last + 1, SIZE_MAX, UINT64_MAX);
  if (!entries.ok()) {
    Violation(
        absl::StrCat("node ", n.id, " cannot read its own log: ", entries.status().ToString()));
    return;
  }
  uint64_t h = n.chain.back().second;
  for (const Entry& e : *entries) {
    h = Mix(Mix(Mix(h, e.term), static_cast<uint64_t>(e.type)), HashBytes(e.data));
    n.chain.emplace_back(e.term, h);
    if (!n.chain_anchored) continue;
    auto [it, inserted] = prefix_hash_.emplace(std::make_pair(e.index, e.term), h);
    if (!inserted && it->second != h) {
      Violation(absl::StrCat("log matching: node ", n.id, " holds (index ", e.index, ", term ",
                             e.term, ") but its log before it differs from another node's"));
      return;
    }
  }
}

void Simulation::CheckCommits(Node& n) {
  const RaftLog& log = n.raft->Log();
  const uint64_t c = log.Committed();
  if (c <= n.seen_commit) return;
  for (uint64_t i = std::max(n.seen_commit + 1, log.FirstIndex() - 1); i <= c; ++i) {
    auto t = log.Term(i);
    if (!t.ok()) continue;
    auto [it, inserted] = committed_term_.emplace(i, *t);
    if (!inserted && it->second != *t) {
      Violation(absl::StrCat("state machine safety: node ", n.id, " committed index ", i,
                             " with term ", *t, " but term ", it->second, " was committed there"));
      return;
    }
  }
  uint64_t& seen = commit_seen_in_term_[n.raft->Term()];
  seen = std::max(seen, c);
  n.seen_commit = c;
}

void Simulation::FinalChecks() {
  // Every acknowledged proposal is in the log, applied on every member.
  uint64_t min_applied = UINT64_MAX;
  for (Node& n : nodes_) {
    if (Member(n.id)) min_applied = std::min(min_applied, n.applied);
  }
  for (const Op& op : ops_) {
    if (op.is_read || !op.acked) continue;
    if (op.log_offset == kNever || op.index > min_applied) {
      Violation(absl::StrCat("acknowledged proposal ", op.value, " (index ", op.index,
                             ") is not applied on every node"));
      return;
    }
  }
  result_.committed_records = applied_.empty() ? 0 : applied_.rbegin()->second.next_offset;
  CheckLinearizable();
}

// The history is linearizable iff we can pick a point inside each operation's
// interval such that writes follow their log order and a read that saw L
// records sits after write L-1 and before write L. Greedy earliest placement
// in that order decides it.
void Simulation::CheckLinearizable() {
  std::vector<std::pair<uint64_t, size_t>> order;  // (slot, op)
  std::vector<bool> offset_taken(result_.committed_records, false);
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    if (op.is_read) {
      if (op.response != kNever) order.emplace_back(2 * op.result, i);
    } else if (op.log_offset != kNever) {
      if (op.log_offset >= offset_taken.size() || offset_taken[op.log_offset]) {
        Violation(absl::StrCat("offset ", op.log_offset, " claimed twice"));
        return;
      }
      offset_taken[op.log_offset] = true;
      order.emplace_back(2 * op.log_offset + 1, i);
    }
  }
  for (size_t off = 0; off < offset_taken.size(); ++off) {
    if (!offset_taken[off]) {
      Violation(absl::StrCat("offset ", off, " holds a record no client proposed"));
      return;
    }
  }
  std::sort(order.begin(), order.end());
  uint64_t floor = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    uint64_t group_max = floor;
    for (; j < order.size() && order[j].first == order[i].first; ++j) {
      const Op& op = ops_[order[j].second];
      const uint64_t at = std::max(floor, op.invoke);
      if (at > op.response) {
        Violation(absl::StrCat(
            "linearizability: ", op.is_read ? "read returning " : "write at offset ",
            op.is_read ? op.result : op.log_offset, " (invoked at ", op.invoke, ", answered at ",
            op.response, ") must follow an operation that completed at ", floor));
        return;
      }
      group_max = std::max(group_max, at);
    }
    floor = group_max;
    i = j;
  }
}

// Prints the end state and the client history, to debug a failing seed.
void Simulation::Trace() {
  for (Node& n : nodes_) {
    if (!n.up) {
      std::fprintf(stderr, "node %llu down\n", static_cast<unsigned long long>(n.id));
      continue;
    }
    std::fprintf(stderr, "node %llu %s term=%llu commit=%llu applied=%llu last=%llu leader=%llu\n",
                 static_cast<unsigned long long>(n.id),
                 std::string(RoleName(n.raft->CurrentRole())).c_str(),
                 static_cast<unsigned long long>(n.raft->Term()),
                 static_cast<unsigned long long>(n.raft->Commit()),
                 static_cast<unsigned long long>(n.applied),
                 static_cast<unsigned long long>(n.raft->Log().LastIndex()),
                 static_cast<unsigned long long>(n.raft->Leader()));
  }
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    std::fprintf(
        stderr,
        "op %zu %s invoke=%llu response=%lld index=%llu term=%llu offset=%lld "
        "read_index=%llu result=%llu\n",
        i, op.is_read ? "read" : "write", static_cast<unsigned long long>(op.invoke),
        op.response == kNever ? -1LL : static_cast<long long>(op.response),
        static_cast<unsigned long long>(op.index), static_cast<unsigned long long>(op.term),
        op.log_offset == kNever ? -1LL : static_cast<long long>(op.log_offset),
        static_cast<unsigned long long>(op.read_index), static_cast<unsigned long long>(op.result));
  }
}

}  // namespace

SimResult RunSimulation(const SimOptions& options) { return Simulation(options).Run(); }

std::string ReproCommand(const SimOptions& o) {
  std::string cmd = absl::StrCat("proglog-raft-sim --first-seed ", o.seed, " --seeds 1 --nodes ",
                                 o.nodes, " --units ", o.fault_units, " --loss ", o.loss, " --dup ",
                                 o.duplicate, " --reorder ", o.reorder);
  absl::StrAppend(&cmd, " --crash-rate ", o.crash_rate, " --partition-rate ", o.partition_rate,
                  " --max-down ", o.max_down_units);
  if (!o.partitions) absl::StrAppend(&cmd, " --no-partitions");
  if (!o.crashes) absl::StrAppend(&cmd, " --no-crashes");
  if (!o.snapshots) absl::StrAppend(&cmd, " --no-snapshots");
  if (!o.transfers) absl::StrAppend(&cmd, " --no-transfers");
  if (o.membership) absl::StrAppend(&cmd, " --membership");
  if (!o.batching) absl::StrAppend(&cmd, " --no-batching");
  if (!o.pipelining) absl::StrAppend(&cmd, " --no-pipelining");
  if (o.bugs.vote_without_log_check) absl::StrAppend(&cmd, " --bug vote-without-log-check");
  if (o.bugs.commit_earlier_term_by_count) absl::StrAppend(&cmd, " --bug commit-earlier-term");
  if (o.bugs.follower_reads_locally) absl::StrAppend(&cmd, " --bug follower-reads-locally");
  absl::StrAppend(&cmd, " --verbose");
  return cmd;
}

}  // namespace proglog::raft::sim
