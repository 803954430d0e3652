// core/node: a proglog node, the agent that composes everything a node is: the
// data dir, the log, the gRPC service and, for a cluster member, the Raft
// runtime over the log, the port mux that carries Raft and gRPC on one port,
// gossip membership and the peer TLS context. The `proglog` binary runs one;
// the C API embeds one in-process. Without Config::cluster.enabled the node
// serves one local log (no Raft, no gossip).
//
// Thread-safety: every public method is thread-safe; Close() may be called once
// from any thread, after which other calls fail with FailedPrecondition.
#ifndef PROGLOG_CORE_NODE_NODE_H_
#define PROGLOG_CORE_NODE_NODE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/discovery/membership.h"
#include "core/log/log.h"
#include "core/telemetry/telemetry.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace proglog::security {
class Authorizer;
}  // namespace proglog::security

namespace proglog::node {

// Clustering: Raft over the log, membership from gossip, Raft on the RPC port.
struct ClusterConfig {
  // Replicate with Raft and gossip. Default: false (a single local log).
  bool enabled = false;
  // Gossip address "ip:port" (port 0 picks one). Required when enabled.
  std::string bind_addr;
  // Host other nodes and clients use to reach the RPC port. Default: rpc_host
  // (required when rpc_host is a wildcard such as 0.0.0.0).
  std::string advertise_host;
  // Gossip addresses of members to join, retried in the background.
  std::vector<std::string> start_join_addrs;
  // Start a one-voter cluster when the data dir is new.
  bool bootstrap = false;
  // Raw gossip encryption key (16/24/32 bytes); empty: unencrypted gossip.
  std::string gossip_key;
  // Raft timing. Defaults suit a LAN: heartbeat 50 ms, election timeout 500 ms
  // (drawn at random from [timeout, 2 x timeout)).
  std::chrono::milliseconds heartbeat_interval{50};
  std::chrono::milliseconds election_timeout{500};
  // Mutual TLS between nodes for Raft connections: all three or none.
  std::string peer_tls_cert_file;
  std::string peer_tls_key_file;
  std::string peer_tls_ca_file;
  // Observes gossip membership changes (for the operator's log); runs on
  // discovery's event thread and must not block. Null: not observed.
  std::function<void(const discovery::MemberEvent&)> on_member_event;
};

// TLS for clients and the ACL, as files (the binary's --server-tls-* and
// --acl-* flags). TLS: all three files or none; with them the RPC port speaks
// TLS only and requires a client certificate signed by the CA. ACL: both
// files or none, and only with TLS (it authorizes the client certificate's
// Common Name). A partial or inconsistent set is InvalidArgument naming the
// missing file, reported before the data dir is touched.
struct SecurityConfig {
  std::filesystem::path server_tls_cert_file;
  std::filesystem::path server_tls_key_file;
  std::filesystem::path server_tls_ca_file;
  std::filesystem::path acl_model_file;
  std::filesystem::path acl_policy_file;

  bool Tls() const { return !server_tls_cert_file.empty(); }
  bool Acl() const { return !acl_model_file.empty(); }
  // Whether any of the files is given (a partial set included).
  bool Any() const {
    return Tls() || Acl() || !server_tls_key_file.empty() || !server_tls_ca_file.empty() ||
           !acl_policy_file.empty();
  }
};

// What an ACL reload left in force.
struct AclStatus {
  size_t rules = 0;
  uint64_t generation = 0;
};

struct Config {
  // Where the log's segments live; created if missing. Not writable -> error.
  std::filesystem::path data_dir;
  // This node's id in GetServers, Raft and gossip. Empty: DefaultNodeName().
  std::string node_name;
  // gRPC listen address. Port 0 picks a free port; RpcAddress() tells which.
  std::string rpc_host = "127.0.0.1";
  int rpc_port = 0;
  // The log lives in `data_dir`/log with these options.
  log::Options log;
  // Client TLS and the ACL, loaded by Open.
  SecurityConfig security;
  // For code that builds its own (tests, benchmarks): the gRPC listener's
  // credentials (null = plaintext) and a callback given the Common Name of the
  // client's verified certificate (empty without TLS) and "produce" or
  // "consume", returning OK or PERMISSION_DENIED without blocking (null allows
  // everything). Setting either together with `security` is InvalidArgument.
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  std::function<absl::Status(std::string_view subject, std::string_view action)> authorizer;
  // How often the retention limits of `log` are applied (when any is set).
  std::chrono::milliseconds retention_interval{std::chrono::seconds(10)};
  // Reads outside the log fail with the original proglog's code 404 instead of
  // OUT_OF_RANGE (server::Options::compat_original_codes). Default: false.
  bool compat_original_codes = false;
  ClusterConfig cluster;
  // /metrics endpoint and OTLP trace export; both off by default. Each node
  // has its own tracer: several nodes in one process trace apart.
  telemetry::Settings telemetry;
  // For code that builds its own (tests, embedders): the tracer of this node's
  // RPCs instead of one from telemetry.tracing; borrowed, must outlive the
  // node. Setting both is InvalidArgument. Null: the node's own tracer when
  // telemetry.tracing has an endpoint, else no tracing.
  telemetry::Tracer* tracer = nullptr;
};

// The node name used when Config::node_name is empty: the host name ("proglog"
// if it cannot be read). The one place this default lives.
std::string DefaultNodeName();

// True for the status Open returns when another node, in this process or
// another, has the data dir open (it holds `data_dir`/LOCK): Aborted, with a
// payload that tells it from other Aborted statuses.
bool IsDataDirInUse(const absl::Status& status);

class Node {
 public:
  // Opens the log and starts serving log.v1.Log (plus health and reflection).
  // Errors: an empty or unwritable data dir -> PermissionDenied/InvalidArgument
  // naming it; a data dir another node has open -> IsDataDirInUse; a corrupt
  // log file -> DataLoss naming file and position; the RPC address cannot be
  // bound -> Unavailable.
  static absl::StatusOr<std::unique_ptr<Node>> Open(Config config);
  virtual ~Node() = default;

  // Local operations: no network involved.
  virtual absl::StatusOr<uint64_t> Append(std::string_view value) = 0;
  virtual absl::StatusOr<log::Record> Read(uint64_t offset) = 0;

  // "host:port" of the RPC port (for a cluster node, as advertised to others).
  virtual std::string RpcAddress() const = 0;
  // The gossip address, "" for a node that is not in a cluster.
  virtual std::string GossipAddress() const { return ""; }
  // "host:port" serving /metrics, "" without Config::telemetry.metrics_addr.
  virtual std::string MetricsAddress() const { return ""; }
  // This node's metrics (what its /metrics serves, process-wide series
  // included); valid until the node is destroyed.
  virtual telemetry::Registry* Metrics() const { return nullptr; }

  // Re-reads the ACL files (the binary does on SIGHUP). A policy that does not
  // parse is refused and the one in force stays. FailedPrecondition when the
  // node has no ACL.
  absl::StatusOr<AclStatus> ReloadAcl();
  // The policy in force; nullopt when the node has no ACL.
  std::optional<AclStatus> Acl() const;

  // Graceful stop: refuse new RPCs, let in-flight produces finish, end streams,
  // close the log cleanly. Idempotent.
  virtual absl::Status Close() = 0;

 private:
  // Set by Open when the node has an ACL; shared with the server's callback.
  std::shared_ptr<security::Authorizer> acl_;
};

}  // namespace proglog::node

#endif  // PROGLOG_CORE_NODE_NODE_H_
