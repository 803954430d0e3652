#include "server/serve.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/discovery/membership.h"
#include "core/node/node.h"
#include "core/security/server_security.h"
#include "server/logging.h"

namespace proglog::app {
namespace {

// Fails with a message naming the directory if the node could not create files
// in it. Checked before opening the node so the operator gets one clear line.
absl::Status CheckDataDirWritable(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create data dir ", dir.string(), ": ", error.message()));
  }
  const std::filesystem::path probe = dir / absl::StrCat(".proglog-write-check-", getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("data dir ", dir.string(), " is not writable: ", std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

// TLS for clients and the ACL: builds the listener's credentials and the
// authorizer, or fails (a partial set of flags, an unreadable or invalid file).
absl::StatusOr<security::ServerSecurity> WireSecurity(const ServeSettings& settings) {
  const security::TlsFiles server_tls{settings.server_tls.cert_file, settings.server_tls.key_file,
                                      settings.server_tls.ca_file};
  const security::AclFiles acl{settings.acl_model_file, settings.acl_policy_file};
  return security::ServerSecurity::FromFlags(server_tls, acl);
}

// SIGHUP: re-reads the ACL files; a broken policy is refused and the old one stays.
void ReloadAcl(security::Authorizer* authorizer) {
  if (authorizer == nullptr) {
    LogEvent(spdlog::level::info, "SIGHUP: no ACL configured; nothing to reload");
    return;
  }
  if (absl::Status status = authorizer->Reload(); !status.ok()) {
    LogEvent(spdlog::level::err, "SIGHUP: ACL policy refused; the previous policy stays in force",
             {{"error", std::string(status.message())},
              {"rules", std::to_string(authorizer->RuleCount())}});
    return;
  }
  LogEvent(spdlog::level::info, "SIGHUP: ACL policy reloaded",
           {{"rules", std::to_string(authorizer->RuleCount())},
            {"generation", std::to_string(authorizer->Generation())}});
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
int WaitForStopSignal(security::Authorizer* authorizer) {
  const sigset_t signals = HandledSignals();
  while (true) {
    const int received = WaitForSignal(signals);
    if (received != SIGHUP) return received;
    ReloadAcl(authorizer);
  }
}

// A second stop signal during a slow shutdown ends the process at once; the log
// recovers on the next open like after a crash.
void ExitOnSecondSignal() {
  std::thread([] {
    const int stop_signal = WaitForSignal(StopSignals());
    LogEvent(spdlog::level::err, "second stop signal; exiting without a clean close",
             {{"signal", strsignal(stop_signal)}});
    _exit(kExitFailure);
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
  // Security flags are settings: a bad set stops the node before the data dir.
  absl::StatusOr<security::ServerSecurity> security = WireSecurity(settings);
  if (!security.ok()) {
    LogEvent(spdlog::level::err, "cannot start",
             {{"error", std::string(security.status().message())}});
    return kExitUsage;
  }

  if (absl::Status status = CheckDataDirWritable(settings.node.data_dir); !status.ok()) {
    LogEvent(spdlog::level::err, "cannot start", {{"error", std::string(status.message())}});
    return kExitFailure;
  }
  node::Config node_config = settings.node;
  node_config.server_credentials = security->credentials;
  node_config.authorizer = security->AuthorizerCallback();
  node_config.cluster = ClusterConfigOf(settings);
  absl::StatusOr<std::unique_ptr<node::Node>> node = node::Node::Open(std::move(node_config));
  if (!node.ok()) {
    LogEvent(spdlog::level::err, "cannot start", {{"error", node.status().ToString()}});
    // Options the log refuses (say, an index too small for one entry) are bad values.
    return absl::IsInvalidArgument(node.status()) ? kExitUsage : kExitFailure;
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
            {"tls", security->credentials ? "true" : "false"},
            {"peer_tls", settings.peer_tls.Any() ? "true" : "false"},
            {"acl", security->authorizer ? "true" : "false"},
            {"node_name", settings.node.node_name},
            {"data_dir", settings.node.data_dir.string()},
            {"bootstrap", settings.bootstrap ? "true" : "false"},
            {"start_join_addrs", absl::StrJoin(settings.start_join_addrs, ",")},
            {"fsync", settings.node.log.durability.ToString()}});

  const int stop_signal = WaitForStopSignal(security->authorizer.get());
  LogEvent(spdlog::level::info, "stopping", {{"signal", strsignal(stop_signal)}});
  ExitOnSecondSignal();
  if (absl::Status status = (*node)->Close(); !status.ok()) {
    LogEvent(spdlog::level::err, "unclean stop", {{"error", status.ToString()}});
    return kExitFailure;
  }
  LogEvent(spdlog::level::info, "stopped");
  return kExitOk;
}

}  // namespace proglog::app
