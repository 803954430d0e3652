// core/node: a proglog node, the agent that composes the storage engine, the
// gRPC service and (in later releases) Raft, discovery and the port mux. The
// `proglog` binary runs one; the C API embeds one in-process.
//
// Thread-safety: every public method is thread-safe; Close() may be called once
// from any thread, after which other calls fail with FailedPrecondition.
#ifndef PROGLOG_CORE_NODE_NODE_H_
#define PROGLOG_CORE_NODE_NODE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/log.h"

namespace proglog::node {

struct Config {
  // Where the log's segments live; created if missing. Not writable -> error.
  std::filesystem::path data_dir;
  // This node's id in GetServers (and, later, in Raft and gossip).
  std::string node_name;
  // gRPC listen address. Port 0 picks a free port; RpcAddress() tells which.
  std::string rpc_host = "127.0.0.1";
  int rpc_port = 0;
  log::Options log;
};

class Node {
 public:
  // Opens the log and starts serving log.v1.Log (plus health and reflection).
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
