// The driver loop against fakes: a transport that records what storage looked
// like at each send, a state machine that records what it applied, and a
// storage wrapper that can fail.
#include "core/raft/driver.h"

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace proglog::raft {
namespace {

class RecordingTransport : public Transport {
 public:
  explicit RecordingTransport(const MemoryStorage* storage) : storage_(storage) {}
  void Send(const Message& m) override {
    sent.push_back(m);
    unsynced_at_send += storage_->HasUnsynced();
  }
  std::vector<Message> sent;
  int unsynced_at_send = 0;

 private:
  const MemoryStorage* storage_;
};

class RecordingStateMachine : public StateMachine {
 public:
  absl::Status Apply(const Entry& e) override {
    applied.push_back(e);
    return absl::OkStatus();
  }
  absl::Status Restore(const Snapshot& s) override {
    restored.push_back(s);
    return absl::OkStatus();
  }
  std::vector<Entry> applied;
  std::vector<Snapshot> restored;
};

// Wraps MemoryStorage; Sync fails while `fail_sync` is set.
class FlakyStorage : public Storage {
 public:
  explicit FlakyStorage(ConfState cs) : inner(std::move(cs)) {}
  absl::StatusOr<InitialState> GetInitialState() const override { return inner.GetInitialState(); }
  absl::StatusOr<std::vector<Entry>> Entries(uint64_t lo, uint64_t hi,
                                             uint64_t max) const override {
    return inner.Entries(lo, hi, max);
  }
  absl::StatusOr<uint64_t> Term(uint64_t i) const override { return inner.Term(i); }
  uint64_t FirstIndex() const override { return inner.FirstIndex(); }
  uint64_t LastIndex() const override { return inner.LastIndex(); }
  absl::StatusOr<Snapshot> GetSnapshot() const override { return inner.GetSnapshot(); }
  absl::Status Append(absl::Span<const Entry> e) override { return inner.Append(e); }
  absl::Status SetHardState(const HardState& h) override { return inner.SetHardState(h); }
  absl::Status SetConfState(const ConfState& c) override { return inner.SetConfState(c); }
  absl::Status ApplySnapshot(const Snapshot& s) override { return inner.ApplySnapshot(s); }
  absl::Status Compact(uint64_t i, std::string d, const ConfState& c) override {
    return inner.Compact(i, std::move(d), c);
  }
  absl::Status Sync() override {
    if (fail_sync) return absl::ResourceExhaustedError("disk full");
    return inner.Sync();
  }
  MemoryStorage inner;
  bool fail_sync = false;
};

struct Node {
  explicit Node(uint64_t id, ConfState cs) : storage(std::move(cs)), transport(&storage.inner) {
    Config c;
    c.id = id;
    c.random_seed = 5;
    raft = *Raft::Create(c, &storage);
    driver = std::make_unique<Driver>(raft.get(), &storage, &transport, &sm);
  }
  FlakyStorage storage;
  RecordingTransport transport;
  RecordingStateMachine sm;
  std::unique_ptr<Raft> raft;
  std::unique_ptr<Driver> driver;
};

// Ticks a single-node cluster until it leads.
void BecomeSoloLeader(Node& n) {
  for (int i = 0; i < 100 && n.raft->CurrentRole() != Role::kLeader; ++i) {
    n.driver->EnqueueTick();
    ASSERT_TRUE(n.driver->RunOnce().ok());
  }
  ASSERT_EQ(n.raft->CurrentRole(), Role::kLeader);
  ASSERT_TRUE(n.driver->RunOnce().ok());  // persist and commit the no-op
  ASSERT_TRUE(n.driver->RunOnce().ok());
}

TEST(Driver, GroupCommitsAllProposalsOfAnIterationWithOneSync) {
  Node n(1, ConfState{{1}, {}, 0});
  BecomeSoloLeader(n);
  const uint64_t syncs = n.storage.inner.SyncCount();
  std::vector<uint64_t> done;
  for (int i = 0; i < 20; ++i) {
    n.driver->EnqueueProposal("r" + std::to_string(i), [&](absl::StatusOr<uint64_t> index) {
      ASSERT_TRUE(index.ok()) << index.status();
      done.push_back(*index);
    });
  }
  ASSERT_TRUE(n.driver->RunOnce().ok());
  EXPECT_EQ(n.storage.inner.SyncCount(), syncs + 1);
  EXPECT_EQ(n.storage.inner.LastIndex(), 21u);
  ASSERT_TRUE(n.driver->RunOnce().ok());  // apply what the first iteration committed
  ASSERT_EQ(done.size(), 20u);
  for (size_t i = 1; i < done.size(); ++i) EXPECT_EQ(done[i], done[i - 1] + 1);
  EXPECT_EQ(n.sm.applied.back().data, "r19");
}

TEST(Driver, NeverSendsBeforeSyncing) {
  Node a(1, ConfState{{1, 2, 3}, {}, 0});
  a.raft->Campaign();
  ASSERT_TRUE(a.driver->RunOnce().ok());
  EXPECT_FALSE(a.transport.sent.empty());
  EXPECT_EQ(a.transport.unsynced_at_send, 0);
}

TEST(Driver, FailedSyncSendsNothingAndReportsError) {
  Node a(1, ConfState{{1, 2, 3}, {}, 0});
  a.raft->Campaign();
  a.storage.fail_sync = true;
  const absl::Status s = a.driver->RunOnce();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_TRUE(a.transport.sent.empty());
}

TEST(Driver, ProposalOnFollowerFailsAtOnce) {
  Node a(1, ConfState{{1, 2, 3}, {}, 0});
  absl::Status got;
  a.driver->EnqueueProposal("x", [&](absl::StatusOr<uint64_t> r) { got = r.status(); });
  ASSERT_TRUE(a.driver->RunOnce().ok());
  EXPECT_TRUE(absl::IsUnavailable(got)) << got;
}

TEST(Driver, ReadCompletesAtAppliedIndex) {
  Node n(1, ConfState{{1}, {}, 0});
  BecomeSoloLeader(n);
  uint64_t read_at = 0;
  n.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) {
    ASSERT_TRUE(r.ok());
    read_at = *r;
  });
  ASSERT_TRUE(n.driver->RunOnce().ok());
  EXPECT_EQ(read_at, n.raft->Commit());
  EXPECT_GE(read_at, 1u);
}

// Feeds `m`, runs one iteration and returns what the node sent.
std::vector<Message> Deliver(Node& n, const Message& m) {
  n.transport.sent.clear();
  n.driver->EnqueueMessage(m);
  EXPECT_TRUE(n.driver->RunOnce().ok());
  return std::exchange(n.transport.sent, {});
}

// A heartbeat from `leader` in `term` to node `to`: it learns who leads.
Message Heartbeat(uint64_t leader, uint64_t to, uint64_t term) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = leader;
  m.to = to;
  m.term = term;
  return m;
}

TEST(Driver, FollowerReadIsForwardedAndCompletesOnceApplied) {
  Node f(2, ConfState{{1, 2, 3}, {}, 0});
  Deliver(f, Heartbeat(1, 2, 1));
  std::optional<absl::StatusOr<uint64_t>> got;
  f.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) { got = r; });
  ASSERT_TRUE(f.driver->RunOnce().ok());
  ASSERT_EQ(f.transport.sent.size(), 1u);
  const Message ask = f.transport.sent[0];
  EXPECT_EQ(ask.type, MessageType::kReadIndex);
  EXPECT_EQ(ask.to, 1u);
  EXPECT_FALSE(got.has_value());

  // The leader confirms index 1; the follower has not applied it yet.
  Message answer;
  answer.type = MessageType::kReadIndexResponse;
  answer.from = 1;
  answer.to = 2;
  answer.term = 1;
  answer.context = ask.context;
  answer.index = 1;
  Deliver(f, answer);
  EXPECT_FALSE(got.has_value());
  // The entry arrives and commits: now the read completes.
  Message append;
  append.type = MessageType::kAppend;
  append.from = 1;
  append.to = 2;
  append.term = 1;
  append.entries = {Entry{1, 1, EntryType::kNoop, ""}};
  append.commit = 1;
  Deliver(f, append);
  ASSERT_TRUE(f.driver->RunOnce().ok());
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status();
  EXPECT_EQ(**got, 1u);
}

TEST(Driver, ReadWithoutAKnownLeaderFailsAtOnce) {
  Node f(2, ConfState{{1, 2, 3}, {}, 0});
  absl::Status got;
  f.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) { got = r.status(); });
  ASSERT_TRUE(f.driver->RunOnce().ok());
  EXPECT_TRUE(absl::IsUnavailable(got)) << got;
  EXPECT_TRUE(f.transport.sent.empty());
}

TEST(Driver, LeaderChangeFailsAPendingForwardedRead) {
  Node f(2, ConfState{{1, 2, 3}, {}, 0});
  Deliver(f, Heartbeat(1, 2, 1));
  std::optional<absl::Status> got;
  f.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) { got = r.status(); });
  ASSERT_TRUE(f.driver->RunOnce().ok());
  EXPECT_FALSE(got.has_value());
  // Node 3 leads a newer term: node 1 will never answer for it.
  Deliver(f, Heartbeat(3, 2, 2));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(absl::IsUnavailable(*got)) << *got;
}

TEST(Driver, UnansweredReadFailsAfterTwoElectionTimeouts) {
  Node f(2, ConfState{{1, 2, 3}, {}, 0});
  Deliver(f, Heartbeat(1, 2, 1));
  std::optional<absl::Status> got;
  f.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) { got = r.status(); });
  ASSERT_TRUE(f.driver->RunOnce().ok());
  const int limit = kReadTimeoutElectionTimeouts * f.raft->ElectionTick();
  int ticks = 0;
  // The leader's heartbeats keep the follower from campaigning, so only the
  // read's own clock can end it.
  while (!got.has_value() && ticks <= limit + 1) {
    f.driver->EnqueueTick();
    ++ticks;
    Deliver(f, Heartbeat(1, 2, 1));
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(absl::IsUnavailable(*got)) << *got;
  EXPECT_EQ(ticks, limit + 1);
}

TEST(Driver, ReadWhoseReadPointIsNeverAppliedFailsAfterTwoElectionTimeouts) {
  Node f(2, ConfState{{1, 2, 3}, {}, 0});
  Deliver(f, Heartbeat(1, 2, 1));
  std::optional<absl::Status> got;
  f.driver->EnqueueRead([&](absl::StatusOr<uint64_t> r) { got = r.status(); });
  ASSERT_TRUE(f.driver->RunOnce().ok());
  ASSERT_EQ(f.transport.sent.size(), 1u);
  Message answer;
  answer.type = MessageType::kReadIndexResponse;
  answer.from = 1;
  answer.to = 2;
  answer.term = 1;
  answer.context = f.transport.sent[0].context;
  answer.index = 7;  // entries this follower never receives
  Deliver(f, answer);
  const int limit = kReadTimeoutElectionTimeouts * f.raft->ElectionTick();
  for (int i = 0; i < limit; ++i) {
    f.driver->EnqueueTick();
    Deliver(f, Heartbeat(1, 2, 1));
  }
  EXPECT_FALSE(got.has_value());
  f.driver->EnqueueTick();
  ASSERT_TRUE(f.driver->RunOnce().ok());
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(absl::IsUnavailable(*got)) << *got;
}

TEST(Driver, RejectedMessagesAreCountedNotFatal) {
  Node a(1, ConfState{{1, 2, 3}, {}, 0});
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 2;
  m.to = 9;
  a.driver->EnqueueMessage(m);
  EXPECT_TRUE(a.driver->RunOnce().ok());
  EXPECT_EQ(a.driver->RejectedMessages(), 1u);
}

// Three drivers wired through their transports: a proposal made on the leader
// is applied on every node.
TEST(Driver, ThreeDriversReplicateAProposal) {
  const ConfState cs{{1, 2, 3}, {}, 0};
  std::map<uint64_t, std::unique_ptr<Node>> nodes;
  for (uint64_t id = 1; id <= 3; ++id) nodes[id] = std::make_unique<Node>(id, cs);
  auto pump = [&] {
    for (int round = 0; round < 50; ++round) {
      for (auto& [id, n] : nodes) {
        ASSERT_TRUE(n->driver->RunOnce().ok());
        for (Message& m : n->transport.sent) nodes[m.to]->driver->EnqueueMessage(std::move(m));
        n->transport.sent.clear();
      }
    }
  };
  nodes[1]->raft->Campaign();
  pump();
  ASSERT_EQ(nodes[1]->raft->CurrentRole(), Role::kLeader);
  bool acked = false;
  nodes[1]->driver->EnqueueProposal("hello", [&](absl::StatusOr<uint64_t> r) { acked = r.ok(); });
  pump();
  for (auto& [id, n] : nodes) n->driver->EnqueueTick();  // heartbeat carries the commit
  pump();
  EXPECT_TRUE(acked);
  for (auto& [id, n] : nodes) {
    ASSERT_FALSE(n->sm.applied.empty()) << id;
    EXPECT_EQ(n->sm.applied.back().data, "hello") << id;
  }
}

}  // namespace
}  // namespace proglog::raft
