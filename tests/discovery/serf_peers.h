// Test support: a real serf agent and one of our gossip nodes, each in its own
// process on loopback, with their member views.
#ifndef PROGLOG_TESTS_DISCOVERY_SERF_PEERS_H_
#define PROGLOG_TESTS_DISCOVERY_SERF_PEERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/discovery/process.h"

namespace proglog::discovery::testing {

struct SeenMember {
  std::string address;
  std::string status;
  std::map<std::string, std::string> tags;
};
using View = std::map<std::string, SeenMember>;

class SerfAgent {
 public:
  // Starts `serf agent` and waits until its RPC answers (nullptr on failure).
  static std::unique_ptr<SerfAgent> Start(const std::string& name,
                                          const std::vector<std::string>& extra_args = {});
  std::string gossip_addr() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string rpc_addr() const { return "127.0.0.1:" + std::to_string(rpc_port_); }
  // `serf members -format=json` parsed; empty if the agent does not answer.
  View Members() const;
  // Runs `serf <subcommand> -rpc-addr=... args` and returns its output.
  std::string Run(const std::string& subcommand, const std::string& args = "") const;
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
  int rpc_port_ = 0;
};

class GossipNode {
 public:
  // Starts proglog-gossip-node with these extra flags and waits for "ready".
  static std::unique_ptr<GossipNode> Start(const std::string& name,
                                           const std::vector<std::string>& args = {}, int port = 0);
  const std::string& addr() const { return addr_; }
  // Asks the node for its member list.
  View Members();
  bool Leave();
  Process& process() { return *process_; }
  // True once the node printed an event line "event <type> <name> ...".
  bool SawEvent(const std::string& type, const std::string& name, absl::Duration timeout);

 private:
  std::unique_ptr<Process> process_;
  std::string addr_;
};

std::string SerfBinary();
std::string GossipNodeBinary();

}  // namespace proglog::discovery::testing

#endif  // PROGLOG_TESTS_DISCOVERY_SERF_PEERS_H_
