// core/server/rpc_metrics: the grpc_server_* series (telemetry/rpc_metrics.h)
// of the calls our handlers do not see: gRPC's own health and reflection
// services, and method paths no service has (recorded as
// grpc_service="unknown", grpc_method="unknown").
//
// The handlers of log.v1.Log and log.v1.Batch record their own series; this
// factory gives their calls no interceptor at all, so gRPC runs none of its
// interception machinery for them (what remains is gRPC's per-call
// ServerRpcInfo, which any interceptor factory costs, and one hash lookup).
// gRPC's services are registered inside gRPC, so an interceptor is the only
// place their calls can be counted.
// Internal to core/server.
#ifndef PROGLOG_CORE_SERVER_RPC_METRICS_H_
#define PROGLOG_CORE_SERVER_RPC_METRICS_H_

#include <memory>

#include "core/telemetry/metrics.h"
#include "core/telemetry/rpc_metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace proglog::server {

// An interceptor factory recording into `registry` (borrowed, must outlive
// the gRPC server) every call except those of the methods `recorded_by_handlers`
// declares (borrowed; null: none).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    telemetry::Registry* registry, const telemetry::RpcServerMetrics* recorded_by_handlers);

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_RPC_METRICS_H_
