// core/server/rpc_trace: the server span of one RPC. It continues the caller's
// trace from the W3C `traceparent`/`tracestate` request metadata, carries the
// OpenTelemetry RPC attributes (rpc.system, rpc.service, rpc.method,
// rpc.grpc.status_code) and ends when the RPC's status is known. Internal to
// core/server.
#ifndef PROGLOG_CORE_SERVER_RPC_TRACE_H_
#define PROGLOG_CORE_SERVER_RPC_TRACE_H_

#include <memory>
#include <string>

#include "core/telemetry/trace.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace proglog::server {

class RpcTrace {
 public:
  // Starts the span of `method` of `service`; null when `tracer` is null, and
  // when the request is not sampled and carries no trace of its caller (then
  // nothing is allocated: see Tracer::StartRpcServerSpan).
  static std::shared_ptr<RpcTrace> Start(telemetry::Tracer* tracer,
                                         const grpc::CallbackServerContext* context,
                                         const char* service, const char* method);

  const telemetry::SpanContext& Context() const { return span_->Context(); }
  // A child span (for the commit, say); ends on its own End() or destruction.
  std::unique_ptr<telemetry::Span> StartChild(std::string name) {
    return tracer_->StartChildSpan(std::move(name), *span_);
  }
  // Under `commit`, an `fsync` span timed like the fsync that made this
  // request's records durable, when one is current on this thread (a single
  // node's group commit: see telemetry::ScopedFsyncTiming). Each request that
  // shared the fsync gets its own span with the shared timing.
  void RecordFsync(const telemetry::Span& commit) {
    if (const telemetry::FsyncTiming* fsync = telemetry::CurrentFsyncTiming(); fsync != nullptr) {
      tracer_->RecordChildSpan("fsync", commit, fsync->start_unix_nanos, fsync->end_unix_nanos);
    }
  }
  void SetAttribute(std::string key, int64_t value) { span_->SetAttribute(std::move(key), value); }
  // Records the status and ends the span. Idempotent.
  void Finish(const grpc::Status& status);

 private:
  RpcTrace(telemetry::Tracer* tracer, std::unique_ptr<telemetry::Span> span)
      : tracer_(tracer), span_(std::move(span)) {}
  telemetry::Tracer* const tracer_;
  const std::unique_ptr<telemetry::Span> span_;
};

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_RPC_TRACE_H_
