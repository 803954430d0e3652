#include "server/serve.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/discovery/membership.h"
#include "core/node/node.h"
#include "server/logging.h"

namespace proglog::app {
namespace {

// SIGHUP: re-reads the ACL files; a broken policy is refused and the old one stays.
void ReloadAcl(node::Node& node) {
  absl::StatusOr<node::AclStatus> acl = node.ReloadAcl();
  if (absl::IsFailedPrecondition(acl.status())) {
    LogEvent(spdlog::level::info, "SIGHUP: no ACL configured; nothing to reload");
    return;
  }
  if (!acl.ok()) {
    const std::optional<node::AclStatus> in_force = node.Acl();
    LogEvent(spdlog::level::err, "SIGHUP: ACL policy refused; the previous policy stays in force",
             {{"error", std::string(acl.status().message())},
              {"rules", std::to_string(in_force ? in_force->rules : 0)}});
    return;
  }
  LogEvent(
      spdlog::level::info, "SIGHUP: ACL policy reloaded",
      {{"rules", std::to_string(acl->rules)}, {"generation", std::to_string(acl->generation)}});
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

sigset_t HandledSignals() {
  sigset_t signals = StopSignals();
  sigaddset(&signals, SIGHUP);
  return signals;
}

// Waits for one of `signals` (blocked in every thread, so only sigwait sees them).
int WaitForSignal(const sigset_t& signals) {
  int received = 0;
  while (sigwait(&signals, &received) != 0) {
  }
  return received;
}

// Serves until SIGINT or SIGTERM, reloading the ACL on each SIGHUP.
int WaitForStopSignal(node::Node& node) {
  const sigset_t signals = HandledSignals();
  while (true) {
    const int received = WaitForSignal(signals);
    if (received != SIGHUP) return received;
    ReloadAcl(node);
  }
}

// Stop signals closer together than this are one stop: `timeout`, a process-group
// kill and a shell's Ctrl-C can each deliver the same stop twice in a row.
constexpr std::chrono::seconds kRepeatedSignalWindow{1};

// A second stop signal well after the first (during a slow shutdown) ends the
// process at once; the log recovers on the next open like after a crash.
// `first_signal_at` is when the first stop signal arrived.
void ExitOnSecondSignal(std::chrono::steady_clock::time_point first_signal_at) {
  std::thread([first_signal_at] {
    while (true) {
      const int stop_signal = WaitForSignal(StopSignals());
      if (std::chrono::steady_clock::now() - first_signal_at < kRepeatedSignalWindow) {
        LogEvent(spdlog::level::info, "stop signal repeated; already stopping",
                 {{"signal", strsignal(stop_signal)}});
        continue;
      }
      LogEvent(spdlog::level::err, "second stop signal; exiting without a clean close",
               {{"signal", strsignal(stop_signal)}});
      _exit(kExitFailure);
    }
  }).detach();
}

std::string TagsText(const std::map<std::string, std::string>& tags) {
  return absl::StrJoin(tags, ",", absl::PairFormatter("="));
}

// Logs each membership change; runs on discovery's event thread.
void LogMemberEvent(const discovery::MemberEvent& event) {
  LogEvent(spdlog::level::info, "member event",
           {{"event", discovery::EventTypeName(event.type)},
            {"member", event.member.name},
            {"address", event.member.address},
            {"status", discovery::MemberStatusName(event.member.status)},
            {"tags", TagsText(event.member.tags)}});
}

// The cluster settings of the node: Raft over the log, gossip on bind-addr,
// Raft connections on the RPC port (with peer TLS when its files are given).
node::ClusterConfig ClusterConfigOf(const ServeSettings& settings) {
  node::ClusterConfig cluster;
  cluster.enabled = true;
  cluster.bind_addr = settings.bind_addr;
  cluster.advertise_host = settings.advertise_host;
  cluster.start_join_addrs = settings.start_join_addrs;
  cluster.bootstrap = settings.bootstrap;
  cluster.gossip_key = settings.gossip_key;
  if (settings.raft_heartbeat_interval) {
    cluster.heartbeat_interval = *settings.raft_heartbeat_interval;
  }
  if (settings.raft_election_timeout) cluster.election_timeout = *settings.raft_election_timeout;
  cluster.peer_tls_cert_file = settings.peer_tls.cert_file;
  cluster.peer_tls_key_file = settings.peer_tls.key_file;
  cluster.peer_tls_ca_file = settings.peer_tls.ca_file;
  cluster.on_member_event = LogMemberEvent;
  return cluster;
}

}  // namespace

int RunServe(const ServeSettings& settings) {
  // Blocked before any thread starts, so gRPC's, gossip's and the log's threads
  // inherit the mask and the signals are delivered only to sigwait below.
  const sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!settings.config_file.empty()) {
    LogEvent(spdlog::level::info, "read config file", {{"path", settings.config_file}});
  }
  node::Config node_config = settings.node;
  node_config.cluster = ClusterConfigOf(settings);
  absl::StatusOr<std::unique_ptr<node::Node>> node = node::Node::Open(std::move(node_config));
  if (!node.ok()) {
    // Security flags and options the log refuses (say, an index too small for
    // one entry) are bad values; the node reports them before the data dir.
    const bool usage = absl::IsInvalidArgument(node.status());
    LogEvent(spdlog::level::err, "cannot start",
             {{"error", usage ? std::string(node.status().message()) : node.status().ToString()}});
    return usage ? kExitUsage : kExitFailure;
  }
  LogEvent(spdlog::level::info, "gossip started",
           {{"bind_addr", (*node)->GossipAddress()},
            {"node_name", settings.node.node_name},
            {"encrypted", settings.gossip_key.empty() ? "false" : "true"},
            {"start_join_addrs", absl::StrJoin(settings.start_join_addrs, ",")}});
  LogEvent(spdlog::level::info, "serving",
           {{"rpc_addr", (*node)->RpcAddress()},
            {"metrics_addr", (*node)->MetricsAddress()},
            {"bind_addr", (*node)->GossipAddress()},
            {"tls", settings.node.security.Tls() ? "true" : "false"},
            {"peer_tls", settings.peer_tls.Any() ? "true" : "false"},
            {"acl", settings.node.security.Acl() ? "true" : "false"},
            {"node_name", settings.node.node_name},
            {"data_dir", settings.node.data_dir.string()},
            {"bootstrap", settings.bootstrap ? "true" : "false"},
            {"start_join_addrs", absl::StrJoin(settings.start_join_addrs, ",")},
            {"fsync", settings.node.log.durability.ToString()}});

  const int stop_signal = WaitForStopSignal(**node);
  const auto stop_signal_at = std::chrono::steady_clock::now();
  LogEvent(spdlog::level::info, "stopping", {{"signal", strsignal(stop_signal)}});
  ExitOnSecondSignal(stop_signal_at);
  if (absl::Status status = (*node)->Close(); !status.ok()) {
    LogEvent(spdlog::level::err, "unclean stop", {{"error", status.ToString()}});
    return kExitFailure;
  }
  LogEvent(spdlog::level::info, "stopped");
  return kExitOk;
}

}  // namespace proglog::app
