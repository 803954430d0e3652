#include "tests/discovery/serf_peers.h"

#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace proglog::discovery::testing {

std::string SerfBinary() { return PROGLOG_SERF_BIN; }
std::string GossipNodeBinary() { return PROGLOG_GOSSIP_NODE_BIN; }

std::unique_ptr<SerfAgent> SerfAgent::Start(const std::string& name,
                                            const std::vector<std::string>& extra_args) {
  auto agent = std::make_unique<SerfAgent>();
  agent->port_ = FreePort();
  agent->rpc_port_ = FreePort();
  std::vector<std::string> argv = {SerfBinary(),
                                   "agent",
                                   "-node=" + name,
                                   "-bind=" + agent->gossip_addr(),
                                   "-rpc-addr=" + agent->rpc_addr(),
                                   "-log-level=info"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::string log =
      ::testing::TempDir() + "serf-" + name + "-" + std::to_string(agent->port_) + ".log";
  agent->process_ = Process::Start(argv, log);
  if (!agent->process_) return nullptr;
  SerfAgent* a = agent.get();
  if (!PollUntil(absl::Seconds(15), [a] { return !a->Members().empty(); })) {
    return nullptr;
  }
  return agent;
}

std::string SerfAgent::Run(const std::string& subcommand, const std::string& args) const {
  return RunCommand(SerfBinary() + " " + subcommand + " -rpc-addr=" + rpc_addr() + " " + args +
                    " 2>&1");
}

View SerfAgent::Members() const {
  View view;
  std::string out =
      RunCommand(SerfBinary() + " members -rpc-addr=" + rpc_addr() + " -format=json 2>/dev/null");
  auto json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.contains("members")) return view;
  for (const auto& m : json["members"]) {
    SeenMember s;
    s.address = m.value("addr", "");
    s.status = m.value("status", "");
    if (m.contains("tags") && m["tags"].is_object()) {
      for (const auto& [k, v] : m["tags"].items()) s.tags[k] = v.get<std::string>();
    }
    view[m.value("name", "")] = s;
  }
  return view;
}

std::unique_ptr<GossipNode> GossipNode::Start(const std::string& name,
                                              const std::vector<std::string>& args, int port) {
  auto node = std::make_unique<GossipNode>();
  if (port == 0) port = FreePort();
  std::vector<std::string> argv = {GossipNodeBinary(), "--name", name, "--bind",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  node->process_ = Process::Start(argv);
  if (!node->process_) return nullptr;
  auto ready = node->process_->WaitForLine("ready ", absl::Seconds(10));
  if (!ready) return nullptr;
  node->addr_ = ready->substr(6);
  return node;
}

View GossipNode::Members() {
  View view;
  process_->Write("members");
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (auto line = process_->ReadLine(deadline)) {
    if (*line == "end") break;
    std::istringstream in(*line);
    std::string kind, name, tags;
    SeenMember m;
    in >> kind >> name >> m.address >> m.status >> tags;
    if (kind != "member") continue;
    std::istringstream t(tags);
    std::string kv;
    while (std::getline(t, kv, ',')) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos) m.tags[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    view[name] = m;
  }
  return view;
}

bool GossipNode::Leave() {
  process_->Write("leave");
  auto line = process_->WaitForLine("ok", absl::Seconds(15));
  return line.has_value();
}

bool GossipNode::SawEvent(const std::string& type, const std::string& name,
                          absl::Duration timeout) {
  std::string prefix = "event " + type + " " + name + " ";
  for (const std::string& line : process_->lines()) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return process_->WaitForLine(prefix, timeout).has_value();
}

}  // namespace proglog::discovery::testing
