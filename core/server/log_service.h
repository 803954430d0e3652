// core/server/log_service: the log.v1.Log callback service and its reactors.
// Internal to core/server; see server.h for the contract.
//
// Thread-safety: all methods are called by gRPC on its callback threads, except
// BeginShutdown(), which the owning Server calls from its own thread.
#ifndef PROGLOG_CORE_SERVER_LOG_SERVICE_H_
#define PROGLOG_CORE_SERVER_LOG_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/server/commit_log.h"
#include "core/server/executor.h"
#include "core/server/rpc_trace.h"
#include "core/server/server.h"
#include "core/telemetry/rpc_metrics.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::server {

// Absl and gRPC share the canonical code numbers; a closed log is UNAVAILABLE.
grpc::Status ToGrpcStatus(const absl::Status& status);
// ToGrpcStatus for the status an RPC finishes with: a NotLeaderError that names
// the leader also puts its address in the trailing metadata of `context`. Call
// at most once per RPC, before Finish.
grpc::Status FinishingStatus(grpc::CallbackServerContext* context, const absl::Status& status);

// The grpc_server_* series of the methods this server serves (log.v1.Log and
// log.v1.Batch); all null without Options::metrics.
struct MethodSeries {
  telemetry::RpcMethodMetrics* produce = nullptr;
  telemetry::RpcMethodMetrics* consume = nullptr;
  telemetry::RpcMethodMetrics* consume_stream = nullptr;
  telemetry::RpcMethodMetrics* produce_stream = nullptr;
  telemetry::RpcMethodMetrics* get_servers = nullptr;
  telemetry::RpcMethodMetrics* produce_batch = nullptr;
  telemetry::RpcMethodMetrics* consume_batch = nullptr;
  telemetry::RpcMethodMetrics* consume_batch_stream = nullptr;
};

// A stream the service must end when the server shuts down.
class StoppableStream {
 public:
  virtual ~StoppableStream() = default;
  virtual void StopForShutdown() = 0;
};

class LogService final : public logpb::v1::Log::CallbackService {
 public:
  // All pointers are borrowed and must outlive every RPC.
  LogService(CommitLog* log, Executor* reads, const Options* options);

  // The address GetServers reports for this node.
  void SetSelfAddress(std::string address) { self_address_ = std::move(address); }
  // Refuses new RPCs and ends every open stream.
  void BeginShutdown();

  grpc::ServerUnaryReactor* Produce(grpc::CallbackServerContext* context,
                                    const logpb::v1::ProduceRequest* request,
                                    logpb::v1::ProduceResponse* response) override;
  grpc::ServerUnaryReactor* Consume(grpc::CallbackServerContext* context,
                                    const logpb::v1::ConsumeRequest* request,
                                    logpb::v1::ConsumeResponse* response) override;
  grpc::ServerWriteReactor<logpb::v1::ConsumeResponse>* ConsumeStream(
      grpc::CallbackServerContext* context, const logpb::v1::ConsumeRequest* request) override;
  grpc::ServerBidiReactor<logpb::v1::ProduceRequest, logpb::v1::ProduceResponse>* ProduceStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetServers(grpc::CallbackServerContext* context,
                                       const logpb::v1::GetServersRequest* request,
                                       logpb::v1::GetServersResponse* response) override;

  // Used by the reactors.
  CommitLog* Storage() const { return log_; }
  Executor* Reads() const { return reads_; }
  const Options& ServerOptions() const { return *options_; }
  const MethodSeries& Series() const { return series_; }
  // The methods whose grpc_server_* series the handlers record; null without
  // Options::metrics.
  const telemetry::RpcServerMetrics* HandlerMetrics() const { return rpc_metrics_.get(); }
  // Adds the server's limits (wire::kMaxRecordBytesMetadataKey) to the initial
  // metadata of an RPC; call before anything is sent.
  void AnnounceLimits(grpc::CallbackServerContext* context) const;
  // The status a failed read finishes with: a read outside the log gets the
  // LocalizedMessage detail, and code 404 with Options::compat_original_codes.
  grpc::Status ReadStatus(const absl::Status& status) const;
  // Runs `read` (on a read thread) and passes its status to `done`. When
  // `read` found nothing at or after the end of this node's log (OUT_OF_RANGE,
  // `offset` not below the lowest offset kept), the end is first confirmed
  // with CommitLog::ConfirmEnd and `read` runs again on a read thread: a
  // follower that lags, or an old leader cut off from the cluster, never
  // answers "past the end" for a record committed elsewhere; it answers
  // UNAVAILABLE when it cannot confirm. Reads that find a record cost nothing extra.
  void ReadConfirmingEnd(uint64_t offset, absl::AnyInvocable<absl::Status()> read,
                         absl::AnyInvocable<void(absl::Status)> done);
  // OK, or why `value` cannot be produced.
  absl::Status ValidateValue(const logpb::v1::ProduceRequest& request) const;
  // OK if the RPC may proceed: the server is open and the authorizer allows it.
  absl::Status Admit(grpc::CallbackServerContext* context, std::string_view action) const;
  // Registers a stream; false if the server is already shutting down.
  bool Register(const void* key, std::shared_ptr<StoppableStream> stream);
  void Unregister(const void* key);

  // The span of this RPC of `service` when a tracer is set (Options::tracer,
  // else the active one); null otherwise.
  std::shared_ptr<RpcTrace> StartTrace(const grpc::CallbackServerContext* context,
                                       const char* service, const char* method) const;
  // Counts the end of `call`, ends `trace` (may be null) with `status`, logs a
  // failure at debug level, and finishes the RPC.
  static void FinishRpc(grpc::ServerUnaryReactor* reactor, const telemetry::RpcCall& call,
                        RpcTrace* trace, const char* method, const grpc::Status& status);

 private:
  std::shared_ptr<RpcTrace> StartTrace(const grpc::CallbackServerContext* context,
                                       const char* method) const {
    return StartTrace(context, logpb::v1::Log::service_full_name(), method);
  }

  CommitLog* const log_;
  Executor* const reads_;
  const Options* const options_;
  std::unique_ptr<telemetry::RpcServerMetrics> rpc_metrics_;  // null without Options::metrics
  MethodSeries series_;
  // proglog_acl_refusals_total{reason}: refused as unauthenticated (no subject)
  // or permission_denied (a subject without the right). Null without an
  // authorizer or metrics.
  struct {
    telemetry::Counter* unauthenticated = nullptr;
    telemetry::Counter* denied = nullptr;
  } acl_refusals_;
  std::string self_address_;
  std::atomic<bool> closing_{false};
  absl::Mutex mu_;
  std::map<const void*, std::shared_ptr<StoppableStream>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_LOG_SERVICE_H_
