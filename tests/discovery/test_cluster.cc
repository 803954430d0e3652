#include "tests/discovery/test_cluster.h"

#include <stdexcept>

namespace proglog::discovery::testing {

Timings FastTimings() {
  Timings t;
  t.probe_interval = absl::Milliseconds(200);
  t.probe_timeout = absl::Milliseconds(100);
  t.gossip_interval = absl::Milliseconds(50);
  t.push_pull_interval = absl::Seconds(3);
  t.tcp_timeout = absl::Seconds(2);
  t.broadcast_timeout = absl::Seconds(2);
  t.leave_propagate_delay = absl::Milliseconds(200);
  t.join_retry_min = absl::Milliseconds(100);
  t.join_retry_max = absl::Milliseconds(400);
  return t;
}

Config NodeConfig(const std::string& name, Timings timings) {
  Config c;
  c.node_name = name;
  c.bind_addr = "127.0.0.1:0";
  c.tags = {{"rpc_addr", "127.0.0.1:" + std::to_string(8400 + name.size())}};
  c.timings = timings;
  return c;
}

TestNode StartNode(Config config) {
  TestNode node;
  EventLog* log = node.events.get();
  auto m = Membership::Start(std::move(config), [log](const MemberEvent& e) { log->Record(e); });
  if (!m.ok()) throw std::runtime_error(std::string(m.status().message()));
  node.membership = *std::move(m);
  return node;
}

std::optional<MemberStatus> StatusOf(const Membership& observer, const std::string& name) {
  for (const Member& m : observer.Members()) {
    if (m.name == name) return m.status;
  }
  return std::nullopt;
}

bool AllSeeAlive(const std::vector<Membership*>& nodes, const std::vector<std::string>& names) {
  for (Membership* n : nodes) {
    for (const std::string& name : names) {
      if (StatusOf(*n, name) != MemberStatus::kAlive) return false;
    }
  }
  return true;
}

}  // namespace proglog::discovery::testing
