#include "server/serve.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/node/node.h"
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

// Gossip membership and Raft: a single node that leads itself until they land.
void WireCluster(const ServeSettings& settings) {
  if (!settings.start_join_addrs.empty()) {
    LogEvent(spdlog::level::warn, "gossip is not yet supported; not joining",
             {{"start_join_addrs", absl::StrJoin(settings.start_join_addrs, ",")}});
  }
  LogEvent(
      spdlog::level::info,
      "running as a single-node cluster (Raft and gossip are not yet supported; "
      "bind-addr sets only the RPC host)",
      {{"bind_addr", settings.bind_addr}, {"bootstrap", settings.bootstrap ? "true" : "false"}});
}

// TLS for clients and peers.
void WireTls(const ServeSettings& settings) {
  if (settings.server_tls.Any() || settings.peer_tls.Any()) {
    LogEvent(spdlog::level::warn,
             "TLS is not yet supported; the --server-tls-* and --peer-tls-* files are ignored "
             "and the node serves plaintext");
  }
}

// Authorization of each request.
void WireAcl(const ServeSettings& settings) {
  if (!settings.acl_model_file.empty() || !settings.acl_policy_file.empty()) {
    LogEvent(spdlog::level::warn,
             "ACL is not yet supported; --acl-model-file and --acl-policy-file are ignored "
             "and every request is allowed");
  }
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// Waits for SIGINT or SIGTERM (blocked in every thread, so only sigwait sees them).
int WaitForStopSignal() {
  const sigset_t signals = StopSignals();
  int stop_signal = 0;
  while (sigwait(&signals, &stop_signal) != 0) {
  }
  return stop_signal;
}

// A second stop signal during a slow shutdown ends the process at once; the log
// recovers on the next open like after a crash.
void ExitOnSecondSignal() {
  std::thread([] {
    const int stop_signal = WaitForStopSignal();
    LogEvent(spdlog::level::err, "second stop signal; exiting without a clean close",
             {{"signal", strsignal(stop_signal)}});
    _exit(kExitFailure);
  }).detach();
}

}  // namespace

int RunServe(const ServeSettings& settings) {
  // Blocked before any thread starts, so gRPC's and the log's threads inherit
  // the mask and the signals are delivered only to sigwait below.
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!settings.config_file.empty()) {
    LogEvent(spdlog::level::info, "read config file", {{"path", settings.config_file}});
  }
  WireCluster(settings);
  WireTls(settings);
  WireAcl(settings);

  if (absl::Status status = CheckDataDirWritable(settings.node.data_dir); !status.ok()) {
    LogEvent(spdlog::level::err, "cannot start", {{"error", std::string(status.message())}});
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<node::Node>> node = node::Node::Open(settings.node);
  if (!node.ok()) {
    LogEvent(spdlog::level::err, "cannot start", {{"error", node.status().ToString()}});
    // Options the log refuses (say, an index too small for one entry) are bad values.
    return absl::IsInvalidArgument(node.status()) ? kExitUsage : kExitFailure;
  }
  LogEvent(spdlog::level::info, "serving",
           {{"rpc_addr", (*node)->RpcAddress()},
            {"node_name", settings.node.node_name},
            {"data_dir", settings.node.data_dir.string()},
            {"fsync", settings.node.log.durability.ToString()}});

  const int stop_signal = WaitForStopSignal();
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
