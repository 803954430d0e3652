// core/server/rpc_metrics: a gRPC server interceptor that records the metrics
// existing gRPC dashboards expect (the names of go-grpc-prometheus):
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram)
//   grpc_server_msg_received_total / grpc_server_msg_sent_total
// grpc_code is the canonical code name as Go spells it ("OK", "Unavailable").
// Methods are those of the services the server registers, known up front, so
// the label sets are bounded and looking a method up takes no lock; any other
// method path is recorded as grpc_service="unknown", grpc_method="unknown".
// Internal to core/server.
#ifndef PROGLOG_CORE_SERVER_RPC_METRICS_H_
#define PROGLOG_CORE_SERVER_RPC_METRICS_H_

#include <memory>

#include "core/telemetry/metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace proglog::server {

// An interceptor factory recording into `registry` (borrowed, must outlive
// the gRPC server).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    telemetry::Registry* registry);

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_RPC_METRICS_H_
