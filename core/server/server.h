// core/server: the gRPC service `log.v1.Log` over a Log, on gRPC's callback
// API (no thread per stream), together with the standard grpc.health.v1.Health
// service and server reflection, so tools such as grpcurl work without the proto.
//
//   Produce        one record; the reply carries its offset once it is durable
//                  under the log's durability policy.
//   ProduceStream  pipelined: many requests in flight, replies in request order,
//                  offsets increasing. Appends of all RPCs share one writer thread
//                  that batches them (one fsync per batch).
//   Consume        one record by offset.
//   ConsumeStream  records from an offset on, then tails: when caught up it waits on
//                  Log::WaitForOffset (no polling). It ends with CANCELLED when the
//                  client cancels and with OK when the server shuts down (the client
//                  resumes from the offset after the last record it got).
//   GetServers     the cluster as Options::servers reports it; by default this node
//                  alone, as leader.
//
// Status codes: no record, an empty value or a value over max_record_bytes ->
// INVALID_ARGUMENT; reading below the lowest or at/after the next offset ->
// OUT_OF_RANGE; disk full -> RESOURCE_EXHAUSTED; server or log closed -> UNAVAILABLE;
// refused by the authorizer -> its status (PERMISSION_DENIED).
//
// Disk I/O never runs on a gRPC callback thread: appends go through one writer
// thread (AppendQueue), reads through a small pool (Executor).
//
// Thread-safety: Server's methods are thread-safe. Shutdown() may be called from
// any thread except a gRPC callback thread.
#ifndef PROGLOG_CORE_SERVER_SERVER_H_
#define PROGLOG_CORE_SERVER_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/log.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace proglog::server {

// Actions passed to the authorizer.
inline constexpr std::string_view kProduceAction = "produce";
inline constexpr std::string_view kConsumeAction = "consume";

// Decides whether `subject` (the Common Name of the client's verified TLS
// certificate, empty without TLS) may perform `action` ("produce" or "consume").
// Called once per RPC, on a gRPC callback thread: it must not block. Returns OK
// to allow, PERMISSION_DENIED (or UNAUTHENTICATED) to refuse.
using Authorizer = std::function<absl::Status(std::string_view subject, std::string_view action)>;

struct ServerInfo {
  std::string id;
  std::string rpc_addr;
  bool is_leader = false;
};

struct Options {
  // Listen address; port 0 picks a free port (see Server::Port()).
  std::string address = "127.0.0.1:0";
  // Null means insecure. The security component supplies TLS credentials.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Null allows every RPC.
  Authorizer authorizer;
  // This node's id, reported by the default GetServers.
  std::string node_id;
  // Reports the cluster for GetServers; must not block. Null: this node alone,
  // `is_leader=true`, at the bound address.
  std::function<std::vector<ServerInfo>()> servers;
  // Values larger than this are refused with INVALID_ARGUMENT (keep equal to the
  // log's max_record_bytes).
  uint64_t max_record_bytes = 1ull << 20;
  // Threads serving reads from disk.
  int read_threads = 2;
  // Unanswered requests one ProduceStream may have in flight; reading from the
  // client pauses above this (flow control).
  int max_in_flight_per_stream = 1024;
  // Value bytes one ProduceStream may have waiting for the log; reading pauses
  // above this too (one request is always admitted).
  uint64_t max_in_flight_bytes_per_stream = 16ull << 20;
  // Bytes of values the writer thread hands the log in one AppendBatch.
  uint64_t max_batch_bytes = 4ull << 20;
};

class LogService;
class Executor;
class AppendQueue;

class Server {
 public:
  // Starts serving `log`, which is borrowed and must stay open until Shutdown()
  // returns. Fails if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(log::Log* log, Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int Port() const { return port_; }
  // "host:port" actually bound.
  std::string Address() const;

  // Graceful stop: new RPCs are refused (UNAVAILABLE), produces already accepted
  // are appended and answered, streams end (ConsumeStream with OK, ProduceStream
  // with UNAVAILABLE once its in-flight requests are answered). Health turns
  // NOT_SERVING first. Returns when no RPC is left. Idempotent.
  void Shutdown();

 private:
  Server() = default;

  Options options_;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<AppendQueue> appends_;
  std::unique_ptr<Executor> reads_;
  std::unique_ptr<LogService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::once_flag shutdown_once_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_SERVER_H_
