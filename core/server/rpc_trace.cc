#include "core/server/rpc_trace.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace proglog::server {
namespace {

std::optional<std::string> Metadata(const grpc::CallbackServerContext* context, const char* key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

std::shared_ptr<RpcTrace> RpcTrace::Start(telemetry::Tracer* tracer,
                                          const grpc::CallbackServerContext* context,
                                          const char* service, const char* method) {
  if (tracer == nullptr) return nullptr;
  std::optional<telemetry::SpanContext> parent;
  if (std::optional<std::string> header = Metadata(context, "traceparent"); header.has_value()) {
    parent = telemetry::ParseTraceparent(*header);
    if (parent.has_value()) {
      parent->trace_state = Metadata(context, "tracestate").value_or("");
    }
  }
  std::unique_ptr<telemetry::Span> span = tracer->StartRpcServerSpan(service, method, parent);
  if (span == nullptr) return nullptr;  // not sampled, no caller's trace: nothing to carry
  if (span->IsRecording()) {
    span->SetAttribute("rpc.system", std::string("grpc"));
    span->SetAttribute("rpc.service", std::string(service));
    span->SetAttribute("rpc.method", std::string(method));
  }
  return std::shared_ptr<RpcTrace>(new RpcTrace(tracer, std::move(span)));
}

void RpcTrace::Finish(const grpc::Status& status) {
  if (!span_->IsRecording()) return;
  span_->SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.error_code()));
  if (!status.ok()) span_->SetError(status.error_message());
  span_->End();
}

}  // namespace proglog::server
