// proglog-raft-sim: runs the deterministic Raft simulation over a range of
// seeds and reports safety/liveness violations. The last line is always
// "seeds=N violations=V"; the exit status is non-zero when V > 0.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "core/raft/sim/simulator.h"

int main(int argc, char** argv) {
  using proglog::raft::sim::SimOptions;
  CLI::App app{"Deterministic simulation of proglog's Raft core under network faults and crashes"};
  SimOptions base;
  uint64_t seeds = 100, first_seed = 1;
  std::string bug;
  bool verbose = false, no_partitions = false, no_crashes = false, no_snapshots = false,
       no_transfers = false, no_batching = false, no_pipelining = false;
  app.add_option("--seeds", seeds, "Number of seeds to run")->check(CLI::PositiveNumber);
  app.add_option("--first-seed", first_seed, "First seed; seeds run first..first+N-1");
  app.add_option("--nodes", base.nodes, "Cluster size")->check(CLI::Range(1, 9));
  app.add_option("--units", base.fault_units, "Simulated time units with faults (10 per tick)")
      ->check(CLI::Range(0, 10000000));
  app.add_option("--liveness-ticks", base.liveness_ticks,
                 "Ticks allowed after healing to elect and commit")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--loss", base.loss, "Message loss probability")->check(CLI::Range(0.0, 0.9));
  app.add_option("--dup", base.duplicate, "Message duplication probability")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--reorder", base.reorder, "Probability of a long extra delay (reordering)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--crash-rate", base.crash_rate, "Crashes per time unit")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--partition-rate", base.partition_rate, "Partitions started per time unit")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--max-down", base.max_down_units, "Longest downtime of a crashed node (units)")
      ->check(CLI::Range(20, 1000000));
  app.add_flag("--no-partitions", no_partitions, "No network partitions");
  app.add_flag("--no-crashes", no_crashes, "No crashes/restarts");
  app.add_flag("--no-snapshots", no_snapshots, "No log compaction / InstallSnapshot");
  app.add_flag("--no-transfers", no_transfers, "No leadership transfers");
  app.add_flag("--membership", base.membership, "Remove, re-add (as learner) and promote voters");
  app.add_flag("--no-batching", no_batching, "One entry per append message");
  app.add_flag("--no-pipelining", no_pipelining, "One append in flight per follower");
  app.add_option("--bug", bug, "Inject a known bug to see the checker catch it")
      ->check(CLI::IsMember(
          {"vote-without-log-check", "commit-earlier-term", "follower-reads-locally"}));
  uint64_t progress = 0;
  app.add_option("--progress", progress, "Print a progress line every N seeds (0 = never)");
  app.add_flag("--verbose", verbose,
               "Print every seed's outcome; for a failing seed, node states and history");
  CLI11_PARSE(app, argc, argv);
  base.partitions = !no_partitions;
  base.crashes = !no_crashes;
  base.snapshots = !no_snapshots;
  base.transfers = !no_transfers;
  base.batching = !no_batching;
  base.pipelining = !no_pipelining;
  base.trace = verbose;
  base.bugs.vote_without_log_check = bug == "vote-without-log-check";
  base.bugs.commit_earlier_term_by_count = bug == "commit-earlier-term";
  base.bugs.follower_reads_locally = bug == "follower-reads-locally";

  uint64_t violations = 0, acked = 0, reads = 0, follower_reads = 0, messages = 0, crashes = 0,
           snaps = 0;
  for (uint64_t i = 0; i < seeds; ++i) {
    SimOptions o = base;
    o.seed = first_seed + i;
    const auto r = proglog::raft::sim::RunSimulation(o);
    acked += r.acked;
    reads += r.reads;
    follower_reads += r.follower_reads;
    messages += r.messages;
    crashes += r.crashes;
    snaps += r.snapshots_installed;
    if (!r.ok) {
      ++violations;
      std::printf("FAIL seed=%llu: %s\n  reproduce: %s\n", static_cast<unsigned long long>(o.seed),
                  r.violation.c_str(), proglog::raft::sim::ReproCommand(o).c_str());
    } else if (verbose) {
      std::printf(
          "ok seed=%llu proposals=%llu acked=%llu reads=%llu records=%llu leaders=%llu "
          "crashes=%llu snapshots=%llu conf_changes=%llu units=%llu messages=%llu\n",
          static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(r.proposals),
          static_cast<unsigned long long>(r.acked), static_cast<unsigned long long>(r.reads),
          static_cast<unsigned long long>(r.committed_records),
          static_cast<unsigned long long>(r.leaders), static_cast<unsigned long long>(r.crashes),
          static_cast<unsigned long long>(r.snapshots_installed),
          static_cast<unsigned long long>(r.conf_changes), static_cast<unsigned long long>(r.units),
          static_cast<unsigned long long>(r.messages));
    }
    if (progress != 0 && (i + 1) % progress == 0) {
      std::printf("progress seeds=%llu violations=%llu\n", static_cast<unsigned long long>(i + 1),
                  static_cast<unsigned long long>(violations));
    }
    std::fflush(stdout);
  }
  std::printf(
      "acked=%llu reads=%llu follower_reads=%llu messages=%llu crashes=%llu "
      "snapshots_installed=%llu\n",
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(reads),
      static_cast<unsigned long long>(follower_reads), static_cast<unsigned long long>(messages),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(snaps));
  std::printf("seeds=%llu violations=%llu\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(violations));
  return violations > 0 ? 1 : 0;
}
