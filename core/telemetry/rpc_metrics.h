// core/telemetry/rpc_metrics: the series existing gRPC dashboards expect from a
// server (the names of go-grpc-prometheus), recorded by the RPC handlers
// themselves:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram)
//   grpc_server_msg_received_total / grpc_server_msg_sent_total
// grpc_code is the canonical code name as Go spells it ("OK", "Unavailable").
//
// A server declares its methods up front (RpcServerMetrics::AddMethod), so the
// label sets are bounded and recording looks nothing up: a handler keeps the
// RpcMethodMetrics of its method and, per call, an RpcCall. Recording is a few
// relaxed atomic adds and two clock reads; it never takes a lock.
//
// Thread-safety: AddMethod is not thread-safe (call it while setting up);
// everything else is.
#ifndef PROGLOG_CORE_TELEMETRY_RPC_METRICS_H_
#define PROGLOG_CORE_TELEMETRY_RPC_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/telemetry/metrics.h"

namespace proglog::telemetry {

// The grpc_type label values.
inline constexpr std::string_view kRpcUnary = "unary";
inline constexpr std::string_view kRpcClientStream = "client_stream";
inline constexpr std::string_view kRpcServerStream = "server_stream";
inline constexpr std::string_view kRpcBidiStream = "bidi_stream";

// Status codes as gRPC numbers them (OK .. UNAUTHENTICATED); others count as Unknown.
inline constexpr int kRpcCodes = 17;

// The series of one method.
class RpcMethodMetrics {
 public:
  // `registry` is borrowed and must outlive this.
  RpcMethodMetrics(Registry* registry, std::string_view service, std::string_view method,
                   std::string_view type);

  void CountStarted() { started_->Increment(); }
  void CountReceived() { received_->Increment(); }
  void CountSent() { sent_->Increment(); }
  // An RPC ended with `code` (a gRPC status code number) after `seconds`.
  void CountHandled(int code, double seconds);

 private:
  Counter* HandledCounter(int code);

  Registry* const registry_;
  const Labels labels_;
  Counter* started_;
  Counter* received_;
  Counter* sent_;
  Histogram* handling_seconds_;
  // Created on first use (once, under the registry's mutex), read lock-free.
  std::array<std::atomic<Counter*>, kRpcCodes> handled_{};
};

// One RPC being served: counts it started when created and handled at
// Finish(). Null metrics (metrics off): every call does nothing. Copyable, so
// a completion callback can carry it.
class RpcCall {
 public:
  RpcCall() = default;
  explicit RpcCall(RpcMethodMetrics* metrics) : metrics_(metrics) {
    if (metrics_ == nullptr) return;
    start_ = std::chrono::steady_clock::now();
    metrics_->CountStarted();
  }
  void Received() const {
    if (metrics_ != nullptr) metrics_->CountReceived();
  }
  void Sent() const {
    if (metrics_ != nullptr) metrics_->CountSent();
  }
  // Records the status code (a gRPC code number) and the time since the start.
  // Call once.
  void Finish(int code) const;

 private:
  RpcMethodMetrics* metrics_ = nullptr;
  std::chrono::steady_clock::time_point start_;
};

// The methods of one server, declared up front.
class RpcServerMetrics {
 public:
  // `registry` is borrowed and must outlive this.
  explicit RpcServerMetrics(Registry* registry) : registry_(registry) {}

  // Declares a method (service "log.v1.Log", method "Produce", type kRpcUnary)
  // and returns its series, valid as long as this lives.
  RpcMethodMetrics* AddMethod(std::string_view service, std::string_view method,
                              std::string_view type);
  // "/<service>/<method>" of each declared method, as gRPC names the path.
  const std::vector<std::string>& MethodPaths() const { return paths_; }

 private:
  Registry* const registry_;
  std::vector<std::unique_ptr<RpcMethodMetrics>> methods_;
  std::vector<std::string> paths_;
};

}  // namespace proglog::telemetry

#endif  // PROGLOG_CORE_TELEMETRY_RPC_METRICS_H_
