// core/server: the gRPC services `log.v1.Log` and `log.v1.Batch` over a CommitLog
// (commit_log.h), on gRPC's callback API (no thread per stream), together with the standard
// grpc.health.v1.Health service and server reflection, so tools such as grpcurl
// work without the proto. Health answers for "" (the server), "log.v1.Log" and
// "log.v1.Batch"; reflection describes every service (the health descriptor is
// compiled in from proto/grpc/health/v1/health.proto beside this file). The service does not know
// whether the commit log is local (LocalCommitLog) or replicated by Raft.
//
//   Produce        one record; the reply carries its offset once the commit log
//                  has made it durable (local) or committed it (replicated).
//   ProduceStream  pipelined: many requests in flight, replies in request order,
//                  offsets increasing. Each request is one CommitLog::Append;
//                  the commit log batches them (LocalCommitLog: one writer
//                  thread, one fsync per batch).
//   Consume        one record by offset.
//   ConsumeStream  records from an offset on, then tails: when caught up it waits on
//                  CommitLog::WaitForOffset (no polling). It ends with CANCELLED when
//                  the client cancels and with OK when the server shuts down (the
//                  client resumes from the offset after the last record it got).
//   GetServers     the cluster as CommitLog::Servers reports it; when that is
//                  empty, this node alone, as leader.
//
// log.v1.Batch (proto/log/v1/batch.proto), for bulk traffic:
//   ProduceBatch   many values in one request, validated as a whole before any
//                  is appended, then one CommitLog::AppendBatch (one group
//                  commit, the values adjacent); the reply carries the base offset.
//   ConsumeBatch   up to max_records / max_bytes of consecutive records from an offset.
//   ConsumeBatchStream  the same per message, from an offset on, then tails as
//                  ConsumeStream does.
// Same ACL actions, status codes and not-leader trailer as log.v1.Log.
//
// Status codes: no record -> INVALID_ARGUMENT (an empty value is a record); a value over
// max_record_bytes -> RESOURCE_EXHAUSTED with a message starting "message too
// large" (gRPC itself refuses a message over the transport limit, max_record_bytes
// plus 1 MiB, with RESOURCE_EXHAUSTED too, so a record too large gets one code); reading below the
// lowest or at/after the next offset -> OUT_OF_RANGE (or 404 with compat_original_codes), with a
// google.rpc.Status in the grpc-status-details-bin trailer holding a google.rpc.LocalizedMessage
// (locale "en-US"), as the original proglog sends; disk full -> RESOURCE_EXHAUSTED; server or log
// closed -> UNAVAILABLE; not the leader -> UNAVAILABLE, with the leader's RPC address in the
// trailing metadata key wire::kLeaderMetadataKey ("proglog-leader") when the commit log names one
// (NotLeaderError), without it during an election; refused by the authorizer -> its status
// (PERMISSION_DENIED).
//
// Listening: by default the server binds Options::address, a "host:port" or a
// gRPC URI such as "unix:/path" or "unix-abstract:name". With
// Options::no_listener it binds nothing, and the port mux hands it accepted
// connections through AddConnection(); gRPC runs the TLS handshake on them itself
// when `credentials` are TLS, so the ACL sees the client certificate as usual.
//
// Disk I/O never runs on a gRPC callback thread: appends go through the commit
// log (which must not block), reads through a small pool (Executor).
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

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/server/commit_log.h"
#include "core/telemetry/metrics.h"
#include "core/telemetry/trace.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace proglog::server {

// Actions passed to the authorizer.
inline constexpr std::string_view kProduceAction = "produce";
inline constexpr std::string_view kConsumeAction = "consume";

// Decides whether `subject` (the Common Name of the client's verified TLS
// certificate, empty without TLS) may perform `action` ("produce" or "consume").
// Called once per RPC, on a gRPC callback thread: it must not block. Returns OK
// to allow, PERMISSION_DENIED (or UNAUTHENTICATED) to refuse.
using Authorizer = std::function<absl::Status(std::string_view subject, std::string_view action)>;

struct Options {
  // Listen address: "host:port" (port 0 picks a free port, see Server::Port()) or
  // a gRPC URI such as "unix-abstract:proglog-xyz". Ignored with no_listener.
  std::string address = "127.0.0.1:0";
  // Bind no address: connections come only through Server::AddConnection (the
  // port mux accepts them), served with `credentials`. Default: false (listen
  // on `address`).
  bool no_listener = false;
  // The RPC address GetServers reports for this node when the commit log reports
  // no cluster. Empty: Server::Address() (with no_listener: nothing).
  std::string advertise_address;
  // Credentials of the listener on `address` (or of the connections handed in
  // with no_listener). Null means insecure. The security
  // component supplies TLS credentials.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Null allows every RPC.
  Authorizer authorizer;
  // This node's id, reported by GetServers when the commit log reports no cluster.
  std::string node_id;
  // Values larger than this are refused with RESOURCE_EXHAUSTED (keep equal to
  // the log's max_record_bytes). Announced to clients in the initial metadata
  // key wire::kMaxRecordBytesMetadataKey of every RPC.
  uint64_t max_record_bytes = 1ull << 20;
  // Value bytes one log.v1.Batch/ProduceBatch may carry; larger batches are
  // refused with RESOURCE_EXHAUSTED. Announced in the initial metadata key
  // wire::kMaxBatchBytesMetadataKey of every Batch RPC. Raised to
  // max_record_bytes when smaller. Default: 4 MiB.
  uint64_t max_batch_bytes = 4ull << 20;
  // Threads serving reads from disk.
  int read_threads = 2;
  // Unanswered requests one ProduceStream may have in flight; reading from the
  // client pauses above this (flow control).
  int max_in_flight_per_stream = 1024;
  // Value bytes one ProduceStream may have waiting for the log; reading pauses
  // above this too (one request is always admitted).
  uint64_t max_in_flight_bytes_per_stream = 16ull << 20;
  // Reads outside the log (Consume, ConsumeStream) fail with code 404, the
  // original proglog's, instead of OUT_OF_RANGE: for clients written against
  // the original that test for it. Default: false (OUT_OF_RANGE).
  bool compat_original_codes = false;
  // Where the grpc_server_* metrics are recorded (telemetry/rpc_metrics.h), and
  // the ACL refusals and gRPC log lines counted; borrowed, must
  // outlive the server. Null: none. Default: the process's default registry.
  telemetry::Registry* metrics = telemetry::DefaultRegistry();
  // Traces RPCs: a server span per RPC continuing the caller's W3C traceparent,
  // with a child span for the commit. Borrowed, must outlive the server. Null:
  // no tracing (there is no process-wide tracer to fall back on, so servers
  // in one process never share one by accident).
  telemetry::Tracer* tracer = nullptr;
};

// The status code the original proglog gives a read outside the log (not one
// of gRPC's codes; clients see it as a number).
inline constexpr int kOriginalOutOfRangeCode = 404;

class LogService;
class BatchService;
class Executor;

class Server {
 public:
  // Starts serving `log`, which is borrowed and must keep working (accept and
  // complete appends, serve reads) until Shutdown() returns. Fails with
  // UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(CommitLog* log, Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The TCP port bound; 0 for a unix socket or with no_listener.
  int Port() const { return port_; }
  // "host:port" actually bound, the unix URI as given, or "" with no_listener.
  std::string Address() const;

  // Serves one accepted TCP connection with Options::credentials (a TLS
  // ClientHello or the HTTP/2 client preface still unread); takes ownership of
  // `fd` and makes it non-blocking. Only with Options::no_listener
  // (FAILED_PRECONDITION otherwise). After Shutdown() has begun it closes `fd`
  // and returns UNAVAILABLE. For the port mux; bytes it already read from `fd`
  // cannot be given back: it must peek (MSG_PEEK), not read, the first byte.
  absl::Status AddConnection(int fd);
  // The underlying gRPC server. Valid until this Server is destroyed.
  grpc::Server* GrpcServer() const { return grpc_server_.get(); }

  // Graceful stop: new RPCs are refused (UNAVAILABLE), produces already accepted
  // are appended and answered, streams end (ConsumeStream with OK, ProduceStream
  // with UNAVAILABLE once its in-flight requests are answered). Health turns
  // NOT_SERVING first. Returns when no RPC is left. Idempotent.
  void Shutdown();

 private:
  Server() = default;

  Options options_;
  std::string address_;  // what Address() returns
  int port_ = 0;
  std::unique_ptr<Executor> reads_;
  std::unique_ptr<LogService> service_;
  std::unique_ptr<BatchService> batch_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  // With no_listener: where AddConnection() hands connections to gRPC.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::once_flag shutdown_once_;
  // Orders AddConnection() against Shutdown(): gRPC's acceptor neither serves
  // nor closes a connection handed in once the server is shutting down.
  absl::Mutex connections_mu_;
  bool shutting_down_ ABSL_GUARDED_BY(connections_mu_) = false;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_SERVER_H_
