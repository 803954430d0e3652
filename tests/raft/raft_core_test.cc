// Scenario tests of the pure Raft core, driven by a tiny in-test network that
// delivers messages in order unless a link is cut or a filter drops them.
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/raft/raft.h"
#include "gtest/gtest.h"

namespace proglog::raft {
namespace {

using Tweak = std::function<void(Config&)>;

class Cluster {
 public:
  explicit Cluster(int n, const Tweak& tweak = {}) : tweak_(tweak) {
    ConfState cs;
    for (int i = 1; i <= n; ++i) cs.voters.push_back(i);
    for (int i = 1; i <= n; ++i) Add(i, cs);
  }

  // Adds a node with its own storage, optionally pre-filled by `fill`.
  void Add(uint64_t id, const ConfState& cs, const std::function<void(MemoryStorage&)>& fill = {}) {
    storage_[id] = std::make_unique<MemoryStorage>(cs);
    if (fill) {
      fill(*storage_[id]);
      EXPECT_TRUE(storage_[id]->Sync().ok());
    }
    Restart(id);
  }

  void Restart(uint64_t id) {
    Config c;
    c.id = id;
    c.random_seed = 99;
    if (tweak_) tweak_(c);
    auto r = Raft::Create(c, storage_[id].get());
    ASSERT_TRUE(r.ok()) << r.status();
    nodes_[id] = std::move(*r);
  }

  Raft& operator[](uint64_t id) { return *nodes_.at(id); }
  MemoryStorage& storage(uint64_t id) { return *storage_.at(id); }

  // Persist, then send, then apply, then advance: the documented order.
  void Handle(uint64_t id) {
    Raft& r = *nodes_[id];
    if (!r.HasReady()) return;
    Ready rd = r.GetReady();
    MemoryStorage& s = *storage_[id];
    if (rd.snapshot) {
      ASSERT_TRUE(s.ApplySnapshot(*rd.snapshot).ok());
      snapshots_[id].push_back(*rd.snapshot);
    }
    ASSERT_TRUE(s.Append(rd.entries).ok());
    if (rd.hard_state) {
      ASSERT_TRUE(s.SetHardState(*rd.hard_state).ok());
    }
    if (rd.conf_state) {
      ASSERT_TRUE(s.SetConfState(*rd.conf_state).ok());
    }
    ASSERT_TRUE(s.Sync().ok());
    for (Message& m : rd.messages) {
      sent_.push_back(m);
      wire_.push_back(std::move(m));
    }
    for (const Entry& e : rd.committed_entries) applied_[id].push_back(e);
    for (const ReadState& rs : rd.read_states) reads_[id].push_back(rs);
    r.Advance(rd);
  }

  // Runs until no node has work and no message is in flight.
  void Flush() {
    for (int round = 0; round < 10000; ++round) {
      for (auto& [id, _] : nodes_) Handle(id);
      if (wire_.empty()) {
        bool busy = false;
        for (auto& [id, r] : nodes_) busy |= r->HasReady();
        if (!busy) return;
        continue;
      }
      std::vector<Message> batch = std::move(wire_);
      wire_.clear();
      for (const Message& m : batch) {
        if (cut_.count({m.from, m.to}) || !nodes_.count(m.to)) continue;
        if (drop_ && drop_(m)) continue;
        ASSERT_TRUE(nodes_[m.to]->Step(m).ok());
      }
    }
    FAIL() << "cluster did not quiesce";
  }

  void TickAll(int times) {
    for (int i = 0; i < times; ++i) {
      for (auto& [id, r] : nodes_) r->Tick();
      Flush();
    }
  }

  void Isolate(uint64_t id) {
    for (auto& [other, _] : nodes_) {
      if (other == id) continue;
      cut_.insert({id, other});
      cut_.insert({other, id});
    }
  }
  void Heal() { cut_.clear(); }
  void DropIf(std::function<bool(const Message&)> f) { drop_ = std::move(f); }

  void Elect(uint64_t id) {
    nodes_[id]->Campaign();
    Flush();
    ASSERT_EQ(nodes_[id]->CurrentRole(), Role::kLeader);
  }

  int CountSent(MessageType type, uint64_t from, uint64_t to) const {
    int n = 0;
    for (const Message& m : sent_) n += m.type == type && m.from == from && m.to == to;
    return n;
  }

  std::vector<Message> sent_;
  std::map<uint64_t, std::vector<Entry>> applied_;
  std::map<uint64_t, std::vector<ReadState>> reads_;
  std::map<uint64_t, std::vector<Snapshot>> snapshots_;

 private:
  Tweak tweak_;
  std::map<uint64_t, std::unique_ptr<MemoryStorage>> storage_;
  std::map<uint64_t, std::unique_ptr<Raft>> nodes_;
  std::vector<Message> wire_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::function<bool(const Message&)> drop_;
};

std::vector<Entry> Log(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(Entry{i, term, EntryType::kNormal, "x"});
  return out;
}

TEST(RaftCore, ElectsOneLeaderAfterElectionTimeout) {
  Cluster c(3);
  c.TickAll(30);
  int leaders = 0;
  for (uint64_t id = 1; id <= 3; ++id) leaders += c[id].CurrentRole() == Role::kLeader;
  EXPECT_EQ(leaders, 1);
  EXPECT_GE(c[1].Term(), 1u);
  EXPECT_EQ(c[1].Leader(), c[2].Leader());
  EXPECT_EQ(c[2].Leader(), c[3].Leader());
}

TEST(RaftCore, NewLeaderCommitsNoopOfItsTerm) {
  Cluster c(3);
  c.Elect(1);
  c.TickAll(2);  // heartbeats carry the commit index to followers
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_EQ(c.applied_[id].size(), 1u) << id;
    EXPECT_EQ(c.applied_[id][0].type, EntryType::kNoop);
    EXPECT_EQ(c.applied_[id][0].term, c[1].Term());
  }
}

TEST(RaftCore, ReplicatesProposalsInOrderEverywhere) {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c[1].Propose("r" + std::to_string(i)).ok());
  c.Flush();
  c.TickAll(2);
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_EQ(c.applied_[id].size(), 6u);
    EXPECT_EQ(c.applied_[id], c.applied_[1]);
    EXPECT_EQ(c.applied_[id][5].data, "r4");
  }
}

TEST(RaftCore, ReplicatesTypedRecordProposalsWithTheirKind) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c[1].Propose(std::string("\x07\0\0\0v", 5), EntryType::kTypedRecord).ok());
  c.Flush();
  c.TickAll(2);
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_EQ(c.applied_[id].size(), 2u) << id;
    EXPECT_EQ(c.applied_[id][1].type, EntryType::kTypedRecord);
    EXPECT_EQ(c.applied_[id][1].data, c.applied_[1][1].data);
  }
}

TEST(RaftCore, AProposalOfAKindWithoutAUserRecordIsRefused) {
  Cluster c(3);
  c.Elect(1);
  EXPECT_TRUE(absl::IsInvalidArgument(c[1].Propose("", EntryType::kNoop).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(c[1].Propose("x", EntryType::kConfChange).status()));
}

TEST(RaftCore, ProposalOnFollowerIsUnavailable) {
  Cluster c(3);
  c.Elect(1);
  EXPECT_TRUE(absl::IsUnavailable(c[2].Propose("x").status()));
}

TEST(RaftCore, BatchesQueuedProposalsIntoOneAppend) {
  Cluster c(3);
  c.Elect(1);
  const size_t before = c.sent_.size();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c[1].Propose("p").ok());
  c.Handle(1);
  int appends = 0;
  size_t entries = 0;
  for (size_t i = before; i < c.sent_.size(); ++i) {
    if (c.sent_[i].type == MessageType::kAppend && c.sent_[i].to == 2) {
      ++appends;
      entries += c.sent_[i].entries.size();
    }
  }
  EXPECT_EQ(appends, 1);
  EXPECT_EQ(entries, 50u);
}

TEST(RaftCore, PipelinesAppendsUpToTheWindow) {
  Cluster c(3, [](Config& cfg) {
    cfg.max_entries_per_message = 1;
    cfg.max_inflight_messages = 4;
  });
  c.Elect(1);
  const size_t before = c.sent_.size();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c[1].Propose("p").ok());
  c.Handle(1);  // no responses yet: only the window may be in flight
  int appends = 0;
  for (size_t i = before; i < c.sent_.size(); ++i) {
    appends += c.sent_[i].type == MessageType::kAppend && c.sent_[i].to == 2;
  }
  EXPECT_EQ(appends, 4);
  c.Flush();
  EXPECT_EQ(c[1].Commit(), 11u);  // the rest followed as acks came back
}

TEST(RaftCore, ConflictHintsSkipWholeTerms) {
  // Node 2 holds 100 entries of a deposed term 2 that nobody else has.
  Cluster c(0);
  const ConfState cs{{1, 2, 3}, {}, 0};
  auto leader_log = [](MemoryStorage& s) {
    ASSERT_TRUE(s.Append(Log(1, 10, 1)).ok());
    ASSERT_TRUE(s.Append(Log(11, 30, 3)).ok());
    ASSERT_TRUE(s.SetHardState(HardState{3, 0, 10}).ok());
  };
  c.Add(1, cs, leader_log);
  c.Add(3, cs, leader_log);
  c.Add(2, cs, [](MemoryStorage& s) {
    ASSERT_TRUE(s.Append(Log(1, 10, 1)).ok());
    ASSERT_TRUE(s.Append(Log(11, 110, 2)).ok());
    ASSERT_TRUE(s.SetHardState(HardState{2, 0, 10}).ok());
  });
  c.Elect(1);
  EXPECT_LE(c.CountSent(MessageType::kAppendResponse, 2, 1), 4);
  int rejects = 0;
  for (const Message& m : c.sent_) rejects += m.type == MessageType::kAppendResponse && m.reject;
  EXPECT_LE(rejects, 2);
  EXPECT_EQ(c[2].Log().LastIndex(), c[1].Log().LastIndex());
  EXPECT_EQ(c[2].Log().TermOrZero(30), 3u);
}

// Raft paper, Figure 8: an entry of an earlier term must not be committed by
// counting replicas; only an entry of the leader's own term commits.
void RunFigureEight(bool bug, uint64_t* leader_commit) {
  Cluster c(0, [bug](Config& cfg) {
    cfg.max_entries_per_message = 1;
    cfg.max_inflight_messages = 1;
    cfg.bugs.commit_earlier_term_by_count = bug;
  });
  const ConfState cs{{1, 2, 3}, {}, 0};
  c.Add(1, cs, [](MemoryStorage& s) {
    ASSERT_TRUE(s.Append(Log(1, 1, 1)).ok());
    ASSERT_TRUE(s.Append(Log(2, 2, 2)).ok());
    ASSERT_TRUE(s.SetHardState(HardState{3, 0, 1}).ok());
  });
  for (uint64_t id : {2, 3}) {
    c.Add(id, cs, [](MemoryStorage& s) {
      ASSERT_TRUE(s.Append(Log(1, 1, 1)).ok());
      ASSERT_TRUE(s.SetHardState(HardState{3, 0, 1}).ok());
    });
  }
  // The leader's own no-op never arrives, so only the term-2 entry spreads.
  // Once a follower holds the term-2 entry, the no-op that would follow it is lost.
  Cluster* cp = &c;
  c.DropIf([cp](const Message& m) {
    return m.type == MessageType::kAppend && !m.entries.empty() &&
           m.entries.back().type == EntryType::kNoop && (*cp)[m.to].Log().TermOrZero(2) == 2;
  });
  c.Elect(1);
  EXPECT_EQ(c[2].Log().TermOrZero(2), 2u);  // a majority holds index 2 (term 2)
  *leader_commit = c[1].Commit();
}

TEST(RaftCore, DoesNotCommitEarlierTermEntryByCountingReplicas) {
  uint64_t commit = 0;
  RunFigureEight(/*bug=*/false, &commit);
  EXPECT_EQ(commit, 1u);
  RunFigureEight(/*bug=*/true, &commit);
  EXPECT_EQ(commit, 2u);  // the injected bug is observable by this very check
}

TEST(RaftCore, PreVoteKeepsPartitionedNodeFromRaisingTerm) {
  Cluster c(3);
  c.Elect(1);
  const uint64_t term = c[1].Term();
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c[3].Tick();
    c.Flush();
  }
  EXPECT_EQ(c[3].Term(), term);
  c.Heal();
  c.TickAll(30);
  EXPECT_EQ(c[1].CurrentRole(), Role::kLeader);
  EXPECT_EQ(c[1].Term(), term);
}

TEST(RaftCore, CheckQuorumStepsDownAnIsolatedLeader) {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);
  // It heard from both followers just now, so it keeps leading for one more
  // election timeout, then notices it has lost its quorum.
  for (int i = 0; i < 10; ++i) {
    c[1].Tick();
    c.Flush();
  }
  EXPECT_EQ(c[1].CurrentRole(), Role::kLeader);
  for (int i = 0; i < 10; ++i) {
    c[1].Tick();
    c.Flush();
  }
  EXPECT_NE(c[1].CurrentRole(), Role::kLeader);
}

TEST(RaftCore, FollowersInLeaseIgnoreVoteRequests) {
  Cluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  c.Elect(1);
  const uint64_t term = c[1].Term();
  c[3].Campaign();  // as if its timer fired while the leader is healthy
  c.Flush();
  EXPECT_EQ(c[2].Term(), term);
  EXPECT_EQ(c[2].Vote(), 1u);
}

TEST(RaftCore, TransfersLeadershipToCaughtUpFollower) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c[1].Propose("a").ok());
  ASSERT_TRUE(c[1].TransferLeadership(2).ok());
  EXPECT_TRUE(absl::IsUnavailable(c[1].Propose("b").status()));
  c.Flush();
  EXPECT_EQ(c[2].CurrentRole(), Role::kLeader);
  EXPECT_EQ(c[1].Leader(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(c[2].TransferLeadership(7)));
}

TEST(RaftCore, ReadIndexNeedsQuorumConfirmation) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c[1].ReadIndex(7).ok());
  c.Flush();
  ASSERT_EQ(c.reads_[1].size(), 1u);
  EXPECT_EQ(c.reads_[1][0].context, 7u);
  EXPECT_EQ(c.reads_[1][0].index, c[1].Commit());
  // Cut off from both followers, a leader cannot confirm it still leads.
  c.Isolate(1);
  ASSERT_TRUE(c[1].ReadIndex(8).ok());
  c.Flush();
  EXPECT_EQ(c.reads_[1].size(), 1u);
}

TEST(RaftCore, ReadIndexWaitsForFirstCommitOfTerm) {
  Cluster c(3);
  c.DropIf([](const Message& m) { return m.type == MessageType::kAppendResponse; });
  c.Elect(1);
  ASSERT_TRUE(c[1].ReadIndex(5).ok());
  c.Flush();
  EXPECT_TRUE(c.reads_[1].empty());  // the no-op is not committed yet
  c.DropIf({});
  c.TickAll(3);
  ASSERT_EQ(c.reads_[1].size(), 1u);
  EXPECT_GE(c.reads_[1][0].index, 1u);
}

TEST(RaftCore, ReadIndexWithoutAKnownLeaderIsUnavailable) {
  Cluster c(3);
  const size_t sent = c.sent_.size();
  const absl::Status s = c[2].ReadIndex(1);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("no leader"), std::string::npos) << s;
  c.Flush();
  EXPECT_EQ(c.sent_.size(), sent);
  EXPECT_TRUE(c.reads_[2].empty());
}

TEST(RaftCore, FollowerReadIndexIsAnsweredWithTheLeadersConfirmedCommit) {
  Cluster c(3);
  c.Elect(1);
  // Node 3 stops hearing from the leader but can still reach it: it lags.
  c.DropIf([](const Message& m) { return m.from == 1 && m.to == 3; });
  ASSERT_TRUE(c[1].Propose("a").ok());
  ASSERT_TRUE(c[1].Propose("b").ok());
  c.Flush();
  const uint64_t commit = c[1].Commit();
  ASSERT_LT(c[3].Commit(), commit);
  ASSERT_EQ(c[3].Leader(), 1u);

  ASSERT_TRUE(c[3].ReadIndex(9).ok());
  c.DropIf({});  // the answer must get back
  c.Flush();
  EXPECT_EQ(c.CountSent(MessageType::kReadIndex, 3, 1), 1);
  EXPECT_EQ(c.CountSent(MessageType::kReadIndexResponse, 1, 3), 1);
  ASSERT_EQ(c.reads_[3].size(), 1u);
  EXPECT_EQ(c.reads_[3][0].context, 9u);
  // The leader's commit index, not the follower's: serving below it is stale.
  EXPECT_EQ(c.reads_[3][0].index, commit);
  EXPECT_TRUE(c.reads_[1].empty());  // the leader keeps no ReadState of its own
}

TEST(RaftCore, ForwardedReadWaitsForTheLeadersQuorum) {
  Cluster c(3);
  c.Elect(1);
  // The leader hears node 2 ask but cannot reach node 3 (nor node 3 it).
  c.DropIf(
      [](const Message& m) { return (m.from == 1 && m.to == 3) || (m.from == 3 && m.to == 1); });
  ASSERT_TRUE(c[2].ReadIndex(4).ok());
  c.Flush();
  ASSERT_EQ(c.reads_[2].size(), 1u);  // 1 and 2 are a quorum of 3
  c.DropIf([](const Message& m) {
    return m.from == 1 && m.to != 1 && m.type == MessageType::kHeartbeat;
  });
  ASSERT_TRUE(c[2].ReadIndex(5).ok());
  c.Flush();
  EXPECT_EQ(c.reads_[2].size(), 1u);  // no heartbeat, no confirmation, no answer
  EXPECT_EQ(c.CountSent(MessageType::kReadIndexResponse, 1, 2), 1);
}

TEST(RaftCore, LeaderThatStepsDownDropsForwardedReads) {
  Cluster c(3);
  c.Elect(1);
  // Node 1 hears node 2's request but no heartbeat ack comes back.
  c.DropIf([](const Message& m) { return m.type == MessageType::kHeartbeatResponse; });
  ASSERT_TRUE(c[2].ReadIndex(6).ok());
  c.Flush();
  EXPECT_EQ(c.CountSent(MessageType::kReadIndex, 2, 1), 1);
  c.Isolate(1);
  c.DropIf({});
  for (int i = 0; i < 30 && c[1].CurrentRole() == Role::kLeader; ++i) {
    c[1].Tick();
    c.Flush();
  }
  ASSERT_NE(c[1].CurrentRole(), Role::kLeader);
  c.Heal();
  c.TickAll(40);  // a new leader is elected and heartbeats flow again
  EXPECT_EQ(c.CountSent(MessageType::kReadIndexResponse, 1, 2), 0);
  EXPECT_TRUE(c.reads_[2].empty());
}

TEST(RaftCore, InjectedBugLetsAFollowerAnswerFromItsOwnCommit) {
  Cluster c(3, [](Config& cfg) { cfg.bugs.follower_reads_locally = true; });
  c.Elect(1);
  c.DropIf([](const Message& m) { return m.from == 1 && m.to == 3; });
  ASSERT_TRUE(c[1].Propose("a").ok());
  c.Flush();
  ASSERT_TRUE(c[3].ReadIndex(2).ok());
  c.Flush();
  ASSERT_EQ(c.reads_[3].size(), 1u);
  EXPECT_LT(c.reads_[3][0].index, c[1].Commit());  // stale: what the sim must catch
}

TEST(RaftCore, LearnerCatchesUpBeforePromotion) {
  Cluster c(3, [](Config& cfg) { cfg.learner_max_lag = 0; });
  c.Add(4, ConfState{});
  c.Elect(1);
  ASSERT_TRUE(c[1].ProposeConfChange({ConfChange::Type::kAddLearner, 4}).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(
      c[1].ProposeConfChange({ConfChange::Type::kRemoveNode, 3}).status()));
  c.Flush();
  EXPECT_EQ(c[1].Conf().learners, (std::vector<uint64_t>{4}));
  c.TickAll(2);
  EXPECT_EQ(c[4].Conf().learners, (std::vector<uint64_t>{4}));
  EXPECT_EQ(c[4].Log().LastIndex(), c[1].Log().LastIndex());
  // A learner that fell behind may not become a voter.
  c.Isolate(4);
  ASSERT_TRUE(c[1].Propose("x").ok());
  c.Flush();
  EXPECT_TRUE(absl::IsFailedPrecondition(
      c[1].ProposeConfChange({ConfChange::Type::kPromoteLearner, 4}).status()));
  c.Heal();
  c.TickAll(2);
  ASSERT_TRUE(c[1].ProposeConfChange({ConfChange::Type::kPromoteLearner, 4}).ok());
  c.Flush();
  c.TickAll(2);
  EXPECT_EQ(c[1].Conf().voters, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(c[4].Conf().voters, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(c.storage(4).GetInitialState()->conf_state.voters, (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(RaftCore, RemovedLeaderStepsDownAndOthersElect) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c[1].ProposeConfChange({ConfChange::Type::kRemoveNode, 1}).ok());
  c.Flush();
  EXPECT_NE(c[1].CurrentRole(), Role::kLeader);
  c.TickAll(40);
  const bool two = c[2].CurrentRole() == Role::kLeader, three = c[3].CurrentRole() == Role::kLeader;
  EXPECT_TRUE(two != three);
  EXPECT_EQ(c[2].Conf().voters, (std::vector<uint64_t>{2, 3}));
}

TEST(RaftCore, SendsSnapshotInChunksToLaggingFollower) {
  Cluster c(3, [](Config& cfg) { cfg.snapshot_chunk_bytes = 4; });
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c[1].Propose("r").ok());
  c.Flush();
  ASSERT_TRUE(c.storage(1).Compact(c[1].Applied(), "0123456789abcdef", c[1].Conf()).ok());
  c.Heal();
  c.TickAll(3);
  EXPECT_GE(c.CountSent(MessageType::kSnapshotChunk, 1, 3), 4);
  ASSERT_EQ(c.snapshots_[3].size(), 1u);
  EXPECT_EQ(c.snapshots_[3][0].data, "0123456789abcdef");
  EXPECT_EQ(c.storage(3).FirstIndex(), c.storage(1).FirstIndex());
  EXPECT_EQ(c[3].Log().LastIndex(), c[1].Log().LastIndex());
  EXPECT_EQ(c[3].Commit(), c[1].Commit());
}

TEST(RaftCore, StepRejectsMisaddressedMessages) {
  Cluster c(3);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 2;
  m.to = 3;
  EXPECT_TRUE(absl::IsInvalidArgument(c[1].Step(m)));
  m.to = 1;
  m.from = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(c[1].Step(m)));
  EXPECT_EQ(c[1].Term(), 0u);  // and nothing changed
}

TEST(RaftCore, RestartKeepsTermVoteCommitAndLog) {
  Cluster c(3);
  c.Elect(1);
  ASSERT_TRUE(c[1].Propose("a").ok());
  c.Flush();
  c.TickAll(2);
  const uint64_t term = c[2].Term(), commit = c[2].Commit();
  c.Restart(2);
  EXPECT_EQ(c[2].Term(), term);
  EXPECT_EQ(c[2].Vote(), 1u);
  EXPECT_EQ(c[2].Commit(), commit);
  EXPECT_EQ(c[2].Log().LastIndex(), 2u);
  EXPECT_EQ(c[2].Conf().voters, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(RaftCore, LeaderCountsItsOwnEntryOnlyOncePersisted) {
  Cluster c(1);
  c.Elect(1);
  const auto index = c[1].Propose("solo");
  ASSERT_TRUE(index.ok());
  Ready rd = c[1].GetReady();
  EXPECT_EQ(c[1].Commit(), *index - 1);  // not yet on disk: not counted
  ASSERT_TRUE(c.storage(1).Append(rd.entries).ok());
  ASSERT_TRUE(c.storage(1).Sync().ok());
  c[1].Advance(rd);
  EXPECT_EQ(c[1].Commit(), *index);
}

TEST(RaftCore, RejectsInvalidConfig) {
  MemoryStorage s;
  Config cfg;
  EXPECT_TRUE(absl::IsInvalidArgument(Raft::Create(cfg, &s).status()));  // id 0
  cfg.id = 1;
  cfg.heartbeat_tick = 10;
  cfg.election_tick = 10;
  EXPECT_TRUE(absl::IsInvalidArgument(Raft::Create(cfg, &s).status()));
  cfg.heartbeat_tick = 1;
  EXPECT_TRUE(absl::IsInvalidArgument(Raft::Create(cfg, nullptr).status()));
}

}  // namespace
}  // namespace proglog::raft
