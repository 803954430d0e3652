// The deterministic simulation over thousands of seeds, and proof that its
// checker fails when Raft's rules are broken on purpose.
#include <string>

#include "core/raft/sim/simulator.h"
#include "gtest/gtest.h"

namespace proglog::raft::sim {
namespace {

struct Tally {
  int runs = 0;
  int violations = 0;
  uint64_t acked = 0;
  uint64_t snapshots = 0;
  uint64_t conf_changes = 0;
  std::string first_failure;
};

Tally RunSeeds(SimOptions base, uint64_t first, int count) {
  Tally t;
  for (int i = 0; i < count; ++i) {
    base.seed = first + i;
    const SimResult r = RunSimulation(base);
    ++t.runs;
    t.acked += r.acked;
    t.snapshots += r.snapshots_installed;
    t.conf_changes += r.conf_changes;
    if (!r.ok) {
      ++t.violations;
      if (t.first_failure.empty()) {
        t.first_failure = r.violation + "\n  reproduce: " + ReproCommand(base);
      }
    }
  }
  return t;
}

TEST(RaftSimulation, ThreeNodesStaySafeAndLiveUnderFaults) {
  SimOptions o;
  o.nodes = 3;
  const Tally t = RunSeeds(o, 1, 1000);
  EXPECT_EQ(t.violations, 0) << t.first_failure;
  EXPECT_GT(t.acked, 1000u * 20);  // the runs did real work
  EXPECT_GT(t.snapshots, 0u);      // and exercised InstallSnapshot
}

TEST(RaftSimulation, FiveNodesStaySafeAndLiveUnderFaults) {
  SimOptions o;
  o.nodes = 5;
  const Tally t = RunSeeds(o, 100001, 1000);
  EXPECT_EQ(t.violations, 0) << t.first_failure;
  EXPECT_GT(t.acked, 1000u * 20);
}

TEST(RaftSimulation, MembershipChangesStaySafe) {
  SimOptions o;
  o.nodes = 5;
  o.membership = true;
  const Tally t = RunSeeds(o, 200001, 300);
  EXPECT_EQ(t.violations, 0) << t.first_failure;
  EXPECT_GT(t.conf_changes, 300u * 3);  // a spare joined, voters left and came back
}

TEST(RaftSimulation, UnbatchedUnpipelinedReplicationStaysSafe) {
  SimOptions o;
  o.nodes = 3;
  o.batching = false;
  o.pipelining = false;
  const Tally t = RunSeeds(o, 300001, 300);
  EXPECT_EQ(t.violations, 0) << t.first_failure;
}

TEST(RaftSimulation, SameSeedReproducesTheSameRun) {
  SimOptions o;
  o.nodes = 5;
  o.seed = 4242;
  const SimResult a = RunSimulation(o), b = RunSimulation(o);
  EXPECT_EQ(a.messages, b.messages);
  EXPECT_EQ(a.acked, b.acked);
  EXPECT_EQ(a.units, b.units);
  EXPECT_EQ(a.crashes, b.crashes);
  EXPECT_EQ(a.snapshots_installed, b.snapshots_installed);
  EXPECT_EQ(a.committed_records, b.committed_records);
  EXPECT_EQ(a.violation, b.violation);
}

// The liveness check is real: with a bound too tight to elect and commit in,
// every run must be reported.
TEST(RaftSimulation, LivenessCheckReportsATooTightBound) {
  SimOptions o;
  o.nodes = 5;
  o.liveness_ticks = 2;
  const Tally t = RunSeeds(o, 1, 20);
  EXPECT_EQ(t.violations, 20);
  EXPECT_NE(t.first_failure.find("liveness"), std::string::npos) << t.first_failure;
}

TEST(RaftSimulation, ReproCommandNamesSeedAndFaults) {
  SimOptions o;
  o.seed = 77;
  o.nodes = 5;
  o.snapshots = false;
  o.bugs.vote_without_log_check = true;
  const std::string cmd = ReproCommand(o);
  EXPECT_NE(cmd.find("--first-seed 77 --seeds 1 --nodes 5"), std::string::npos) << cmd;
  EXPECT_NE(cmd.find("--no-snapshots"), std::string::npos) << cmd;
  EXPECT_NE(cmd.find("--bug vote-without-log-check"), std::string::npos) << cmd;
}

// A voter that skips the "candidate's log is at least as up to date" check
// elects leaders missing committed entries.
TEST(RaftSimulationCatchesBugs, VoteWithoutUpToDateCheck) {
  SimOptions o;
  o.nodes = 3;
  o.bugs.vote_without_log_check = true;
  const Tally t = RunSeeds(o, 1, 200);
  EXPECT_GT(t.violations, 0);
}

// A follower that answers ReadIndex from its own commit index instead of
// asking the leader serves stale reads while it lags: reads go to followers
// too, so the linearizability check sees them.
TEST(RaftSimulationCatchesBugs, FollowerReadWithoutTheLeader) {
  SimOptions o;
  o.nodes = 3;
  o.bugs.follower_reads_locally = true;
  const Tally t = RunSeeds(o, 1, 200);
  EXPECT_GT(t.violations, 0);
}

// Raft's Figure 8: a leader counting replicas of an earlier-term entry commits
// it, a later leader overwrites it. Needs a crash in a short window, so this
// profile crashes and partitions often and sends one entry per message.
TEST(RaftSimulationCatchesBugs, CommitOfEarlierTermEntryByCounting) {
  SimOptions o;
  o.nodes = 3;
  o.batching = false;
  o.pipelining = false;
  o.crash_rate = 0.01;
  o.partition_rate = 0.03;
  o.max_down_units = 100;
  o.loss = 0.2;
  o.bugs.commit_earlier_term_by_count = true;
  const Tally buggy = RunSeeds(o, 1, 10000);
  EXPECT_GT(buggy.violations, 0);
  // The same profile without the bug is clean, so the violations are the bug's.
  o.bugs.commit_earlier_term_by_count = false;
  const Tally clean = RunSeeds(o, 1, 2000);
  EXPECT_EQ(clean.violations, 0) << clean.first_failure;
}

}  // namespace
}  // namespace proglog::raft::sim
