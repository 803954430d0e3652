// core/raft/sim/simulator.h: a deterministic simulation of a Raft cluster. Each
// node runs the production raft::Driver (driver.h), the same persist / send /
// apply loop a real node runs; the simulation plays everything around it. One
// seed fixes everything: a simulated raft::Transport that loses, duplicates,
// delays and reorders messages, partitions (symmetric and one-way), crashes
// between two driver iterations or inside one (after a Ready is written, before
// its Sync) that keep only what was synced to MemoryStorage, log compaction
// with chunked snapshot transfer, and clients that propose records and issue
// ReadIndex reads on any node (a follower forwards them to the leader) through
// the driver's queues and completion callbacks.
//
// After every step it checks election safety, leader append-only, log
// matching, leader completeness and state machine safety; at the end, that
// every acknowledged proposal was applied on every node in the same order and
// that the client history is linearizable; and, once faults heal, that a
// leader is elected and a proposal commits within a bounded number of ticks.
//
// Thread-safety: RunSimulation is reentrant; each call owns all its state.
#ifndef PROGLOG_CORE_RAFT_SIM_SIMULATOR_H_
#define PROGLOG_CORE_RAFT_SIM_SIMULATOR_H_

#include <cstdint>
#include <string>

#include "core/raft/raft.h"

namespace proglog::raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  // Simulated time units with faults; a node ticks every kUnitsPerTick units.
  int fault_units = 2000;
  // After healing, the cluster must elect a leader and commit within this many ticks.
  int liveness_ticks = 300;
  double loss = 0.05;             // probability a message is dropped
  double duplicate = 0.02;        // probability a message is delivered twice
  double reorder = 0.10;          // probability a message gets a long extra delay
  bool partitions = true;         // symmetric and asymmetric partitions
  bool crashes = true;            // crash/restart, losing unsynced writes
  double crash_rate = 0.0015;     // crashes per time unit (cluster-wide)
  double partition_rate = 0.003;  // new partitions per time unit, when none is active
  int max_down_units = 400;       // a crashed node restarts 20..max_down_units later
  bool snapshots = true;          // log compaction, so followers need InstallSnapshot
  bool membership = false;        // remove a voter, re-add it as learner, promote it
  bool transfers = true;          // occasional leadership transfer
  double propose_rate = 0.08;     // client proposals per time unit
  double read_rate = 0.03;        // client ReadIndex reads per time unit
  bool batching = true;           // false: one entry per append
  bool pipelining = true;         // false: one append in flight per follower
  bool check = true;              // run the safety checks every step (bench turns off)
  bool trace = false;             // on a violation, print node states and the history to stderr
  InjectedBugs bugs;
};

struct SimResult {
  bool ok = true;
  std::string violation;   // first violation found, empty if ok
  uint64_t proposals = 0;  // writes handed to a node's driver
  uint64_t acked = 0;
  uint64_t reads = 0;              // reads answered
  uint64_t follower_reads = 0;     // of those, reads handed to a node that was not leading
  uint64_t committed_records = 0;  // records in the final log
  uint64_t messages = 0;           // messages handed to the network
  uint64_t leaders = 0;            // distinct (term, leader) pairs seen
  uint64_t crashes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes = 0;  // membership changes committed
  uint64_t units = 0;
};

inline constexpr int kUnitsPerTick = 10;

SimResult RunSimulation(const SimOptions& options);

// The command line that reruns exactly this simulation.
std::string ReproCommand(const SimOptions& options);

}  // namespace proglog::raft::sim

#endif  // PROGLOG_CORE_RAFT_SIM_SIMULATOR_H_
