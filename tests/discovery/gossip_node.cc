// proglog-gossip-node: one discovery Membership in its own process, driven
// over stdin and reporting on stdout, so tests can run real processes next to
// real serf agents and kill them with SIGKILL.
//
// Output lines: "ready <addr>", "event <type> <name> <addr> <status>",
// "member <name> <addr> <status> <k=v,...>" ... "end", "ok", "error <msg>",
// "stats <udp bytes> <tcp bytes> <dropped> <faults> <user events> <queries>".
// Commands: members | join addr... | leave | tags k=v ... | stats | quit (EOF = quit).
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "core/discovery/membership.h"

namespace {

absl::Mutex out_mu;

void Say(const std::string& line) {
  absl::MutexLock lock(&out_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string FormatTags(const std::map<std::string, std::string>& tags) {
  std::string out;
  for (const auto& [k, v] : tags) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

bool ParseTag(const std::string& kv, std::map<std::string, std::string>* tags) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  (*tags)[kv.substr(0, eq)] = kv.substr(eq + 1);
  return true;
}

void RunCommands(proglog::discovery::Membership& m) {
  using proglog::discovery::MemberStatusName;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "members") {
      for (const auto& mem : m.Members()) {
        Say("member " + mem.name + " " + mem.address + " " + MemberStatusName(mem.status) + " " +
            FormatTags(mem.tags));
      }
      Say("end");
    } else if (cmd == "leave") {
      absl::Status s = m.Leave();
      Say(s.ok() ? "ok" : "error " + std::string(s.message()));
    } else if (cmd == "join") {
      std::vector<std::string> addrs;
      std::string addr;
      while (in >> addr) addrs.push_back(addr);
      absl::Status s = m.Join(addrs);
      Say(s.ok() ? "ok" : "error " + std::string(s.message()));
    } else if (cmd == "tags") {
      std::map<std::string, std::string> tags;
      std::string kv;
      while (in >> kv) ParseTag(kv, &tags);
      absl::Status s = m.SetTags(tags);
      Say(s.ok() ? "ok" : "error " + std::string(s.message()));
    } else if (cmd == "stats") {
      auto st = m.Stats();
      Say("stats " + std::to_string(st.udp_bytes_sent) + " " + std::to_string(st.tcp_bytes_sent) +
          " " + std::to_string(st.packets_dropped) + " " + std::to_string(st.faults_injected) +
          " " + std::to_string(st.user_events_seen) + " " + std::to_string(st.queries_seen));
    } else if (cmd == "quit") {
      break;
    } else if (!cmd.empty()) {
      Say("error unknown command " + cmd);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"proglog-gossip-node: a discovery node for tests"};
  proglog::discovery::Config config;
  std::vector<std::string> tags;
  std::string key;
  double reap_seconds = 0;
  app.add_option("--name", config.node_name, "node name")->required();
  app.add_option("--bind", config.bind_addr, "bind address ip:port");
  app.add_option("--advertise", config.advertise_addr, "advertise address ip:port");
  app.add_option("--tag", tags, "tag key=value (repeatable)");
  app.add_option("--join", config.start_join_addrs, "start-join address (repeatable)");
  app.add_option("--key", key, "base64 gossip key");
  app.add_option("--drop-rate", config.faults.udp_drop_rate, "fraction of UDP packets to drop");
  app.add_option("--seed", config.faults.seed, "seed for randomness");
  app.add_option("--reap-after", reap_seconds, "reap failed/left members after this many seconds");
  CLI11_PARSE(app, argc, argv);
  for (const std::string& kv : tags) {
    if (!ParseTag(kv, &config.tags)) {
      std::cerr << "bad --tag " << kv << " (want key=value)\n";
      return 2;
    }
  }
  if (!key.empty()) {
    auto raw = proglog::discovery::ParseGossipKey(key);
    if (!raw.ok()) {
      std::cerr << raw.status().message() << "\n";
      return 2;
    }
    config.encrypt_key = *raw;
  }
  if (reap_seconds > 0) {
    config.timings.reconnect_timeout = config.timings.tombstone_timeout =
        absl::Seconds(reap_seconds);
    config.timings.reap_interval = absl::Seconds(1);
  }
  auto m =
      proglog::discovery::Membership::Start(config, [](const proglog::discovery::MemberEvent& e) {
        Say(std::string("event ") + proglog::discovery::EventTypeName(e.type) + " " +
            e.member.name + " " + e.member.address + " " +
            proglog::discovery::MemberStatusName(e.member.status));
      });
  if (!m.ok()) {
    std::cerr << "start: " << m.status().message() << "\n";
    return 1;
  }
  Say("ready " + (*m)->Address());
  RunCommands(**m);
  (*m)->Shutdown();
  return 0;
}
