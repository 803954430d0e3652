// proglog-bench-raft: how fast the pure Raft core commits, and how many
// messages each committed entry costs with batching on and off. CPU only: the
// network is an in-memory queue and storage is MemoryStorage.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/raft/raft.h"
#include "core/raft/sim/simulator.h"

namespace {

using namespace proglog::raft;

struct Figures {
  uint64_t committed = 0;
  uint64_t messages = 0;
  double seconds = 0;
};

// `nodes` in-process nodes, perfect network; the leader gets `per_round`
// proposals per round until `total` are committed.
Figures RunCluster(int nodes, size_t max_entries, size_t inflight, int per_round, uint64_t total) {
  ConfState cs;
  for (int i = 1; i <= nodes; ++i) cs.voters.push_back(i);
  std::map<uint64_t, std::unique_ptr<MemoryStorage>> storage;
  std::map<uint64_t, std::unique_ptr<Raft>> rafts;
  for (uint64_t id = 1; id <= static_cast<uint64_t>(nodes); ++id) {
    storage[id] = std::make_unique<MemoryStorage>(cs);
    Config c;
    c.id = id;
    c.max_entries_per_message = max_entries;
    c.max_inflight_messages = inflight;
    rafts[id] = std::move(*Raft::Create(c, storage[id].get()));
  }
  std::vector<Message> wire;
  Figures f;
  auto pump = [&] {
    for (auto& [id, r] : rafts) {
      if (!r->HasReady()) continue;
      Ready rd = r->GetReady();
      MemoryStorage& s = *storage[id];
      (void)s.Append(rd.entries);
      if (rd.hard_state) (void)s.SetHardState(*rd.hard_state);
      (void)s.Sync();
      f.messages += rd.messages.size();
      for (Message& m : rd.messages) wire.push_back(std::move(m));
      r->Advance(rd);
      // Keep memory flat: compact what every node has applied.
      if (r->Applied() > s.FirstIndex() + 4096) (void)s.Compact(r->Applied() - 1024, "", cs);
    }
    std::vector<Message> batch;
    batch.swap(wire);
    for (const Message& m : batch) (void)rafts[m.to]->Step(m);
  };
  rafts[1]->Campaign();
  for (int i = 0; i < 20; ++i) pump();
  const uint64_t base = rafts[1]->Commit();
  f.messages = 0;
  const std::string value(100, 'x');
  const auto start = std::chrono::steady_clock::now();
  uint64_t proposed = 0;
  int round = 0;
  while (rafts[1]->Commit() - base < total) {
    for (int i = 0; i < per_round && proposed < total; ++i, ++proposed) {
      (void)rafts[1]->Propose(value);
    }
    if (++round % 10 == 0) rafts[1]->Tick();  // heartbeats, as a real leader sends
    pump();
  }
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  f.committed = rafts[1]->Commit() - base;
  return f;
}

// Ticks from the leader's loss (it stops talking) to a new leader, with the
// default election timeout of 10 ticks; one tick per round trip of messages.
std::vector<int> MeasureFailover(int nodes, int trials) {
  std::vector<int> ticks;
  for (int trial = 0; trial < trials; ++trial) {
    ConfState cs;
    for (int i = 1; i <= nodes; ++i) cs.voters.push_back(i);
    std::map<uint64_t, std::unique_ptr<MemoryStorage>> storage;
    std::map<uint64_t, std::unique_ptr<Raft>> rafts;
    for (uint64_t id = 1; id <= static_cast<uint64_t>(nodes); ++id) {
      storage[id] = std::make_unique<MemoryStorage>(cs);
      Config c;
      c.id = id;
      c.random_seed = 1000 + trial;
      rafts[id] = std::move(*Raft::Create(c, storage[id].get()));
    }
    uint64_t dead = 0;
    auto round = [&] {
      std::vector<Message> wire;
      for (auto& [id, r] : rafts) {
        if (id == dead || !r->HasReady()) continue;
        Ready rd = r->GetReady();
        (void)storage[id]->Append(rd.entries);
        if (rd.hard_state) (void)storage[id]->SetHardState(*rd.hard_state);
        (void)storage[id]->Sync();
        for (Message& m : rd.messages) wire.push_back(std::move(m));
        r->Advance(rd);
      }
      for (const Message& m : wire) {
        if (m.to != dead) (void)rafts[m.to]->Step(m);
      }
    };
    rafts[1]->Campaign();
    for (int i = 0; i < 30; ++i) {
      for (auto& [id, r] : rafts) r->Tick();
      round();
      round();
    }
    dead = 1;
    int t = 0;
    auto has_leader = [&] {
      for (auto& [id, r] : rafts) {
        if (id != dead && r->CurrentRole() == Role::kLeader) return true;
      }
      return false;
    };
    while (!has_leader() && t < 1000) {
      ++t;
      for (auto& [id, r] : rafts) {
        if (id != dead) r->Tick();
      }
      for (int i = 0; i < 4; ++i) round();
    }
    ticks.push_back(t);
  }
  return ticks;
}

void Report(const char* name, const Figures& f) {
  std::printf("%-44s committed=%-8llu %10.0f entries/s  %6.3f messages/entry\n", name,
              static_cast<unsigned long long>(f.committed), f.committed / f.seconds,
              static_cast<double>(f.messages) / f.committed);
}

}  // namespace

int main() {
  std::printf("Pure Raft core, in-memory network and storage, 100-byte entries\n");
  Report("3 nodes, batching+pipelining, 64/round", RunCluster(3, 256, 16, 64, 200000));
  Report("5 nodes, batching+pipelining, 64/round", RunCluster(5, 256, 16, 64, 200000));
  Report("3 nodes, batching off (1 entry/append)", RunCluster(3, 1, 64, 64, 100000));
  Report("5 nodes, batching off (1 entry/append)", RunCluster(5, 1, 64, 64, 100000));
  Report("3 nodes, one proposal per round", RunCluster(3, 256, 16, 1, 50000));

  for (int nodes : {3, 5}) {
    std::vector<int> t = MeasureFailover(nodes, 200);
    std::sort(t.begin(), t.end());
    double mean = 0;
    for (int x : t) mean += x;
    mean /= t.size();
    std::printf(
        "%d nodes, leader lost -> new leader: mean %.1f ticks, p50 %d, p99 %d, max %d "
        "(election_tick=10; at 20 ms/tick: mean %.0f ms)\n",
        nodes, mean, t[t.size() / 2], t[t.size() * 99 / 100], t.back(), mean * 20);
  }

  // The fault-injecting simulator, checks off: end-to-end commits per CPU second.
  std::printf("\nSimulator (loss, duplication, reordering, partitions, crashes), checks off\n");
  for (bool batching : {true, false}) {
    for (int nodes : {3, 5}) {
      proglog::raft::sim::SimOptions o;
      o.nodes = nodes;
      o.check = false;
      o.batching = batching;
      o.propose_rate = 0.9;
      o.fault_units = 5000;
      uint64_t records = 0, messages = 0;
      const auto start = std::chrono::steady_clock::now();
      for (uint64_t seed = 1; seed <= 20; ++seed) {
        o.seed = seed;
        const auto r = proglog::raft::sim::RunSimulation(o);
        records += r.acked;
        messages += r.messages;
      }
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("%d nodes, batching %-3s  acked=%-8llu %10.0f acked/s  %6.2f messages/acked\n",
                  nodes, batching ? "on" : "off", static_cast<unsigned long long>(records),
                  records / s, static_cast<double>(messages) / records);
    }
  }
  return 0;
}
