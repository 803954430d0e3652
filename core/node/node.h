// core/node: a proglog node, the agent that composes the storage engine, the
// gRPC service and (in later releases) Raft, discovery and the port mux. The
// `proglog` binary runs one; the C API embeds one in-process.
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
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/log.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace proglog::node {

struct Config {
  // Where the log's segments live; created if missing. Not writable -> error.
  std::filesystem::path data_dir;
  // This node's id in GetServers (and, later, in Raft and gossip).
  std::string node_name;
  // gRPC listen address. Port 0 picks a free port; RpcAddress() tells which.
  std::string rpc_host = "127.0.0.1";
  int rpc_port = 0;
  // The log lives in `data_dir`/log with these options.
  log::Options log;
  // Credentials of the gRPC listener (built by core/security); null = insecure.
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  // Called once per Produce/Consume RPC with the Common Name of the client's
  // verified certificate (empty without TLS) and "produce" or "consume"; returns
  // OK or PERMISSION_DENIED. Must not block. Null allows everything.
  std::function<absl::Status(std::string_view subject, std::string_view action)> authorizer;
  // How often the retention limits of `log` are applied (when any is set).
  std::chrono::milliseconds retention_interval{std::chrono::seconds(10)};
};

class Node {
 public:
  // Opens the log and starts serving log.v1.Log (plus health and reflection).
  // Errors: an empty or unwritable data dir -> PermissionDenied/InvalidArgument
  // naming it; a corrupt log file -> DataLoss naming file and position; the RPC
  // address cannot be bound -> Unavailable.
  static absl::StatusOr<std::unique_ptr<Node>> Open(Config config);
  virtual ~Node() = default;

  // Local operations: no network involved.
  virtual absl::StatusOr<uint64_t> Append(std::string_view value) = 0;
  virtual absl::StatusOr<log::Record> Read(uint64_t offset) = 0;

  // "host:port" the gRPC server is bound to.
  virtual std::string RpcAddress() const = 0;

  // Graceful stop: refuse new RPCs, let in-flight produces finish, end streams,
  // close the log cleanly. Idempotent.
  virtual absl::Status Close() = 0;
};

}  // namespace proglog::node

#endif  // PROGLOG_CORE_NODE_NODE_H_
