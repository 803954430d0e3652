#include "core/telemetry/rpc_metrics.h"

#include <utility>

namespace proglog::telemetry {
namespace {

constexpr int kUnknownCode = 2;

constexpr std::array<const char*, kRpcCodes> kCodeNames = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

}  // namespace

RpcMethodMetrics::RpcMethodMetrics(Registry* registry, std::string_view service,
                                   std::string_view method, std::string_view type)
    : registry_(registry),
      labels_{{"grpc_method", std::string(method)},
              {"grpc_service", std::string(service)},
              {"grpc_type", std::string(type)}} {
  started_ = registry->GetCounter("grpc_server_started_total",
                                  "Total number of RPCs started on the server.", labels_);
  received_ =
      registry->GetCounter("grpc_server_msg_received_total",
                           "Total number of RPC stream messages received on the server.", labels_);
  sent_ = registry->GetCounter("grpc_server_msg_sent_total",
                               "Total number of gRPC stream messages sent by the server.", labels_);
  handling_seconds_ = registry->GetHistogram(
      "grpc_server_handling_seconds",
      "Histogram of response latency (seconds) of gRPC that had been application-level "
      "handled by the server.",
      LatencyBuckets(), labels_);
  // OK is the common case: create it up front so a fresh server shows it at zero.
  HandledCounter(0);
}

Counter* RpcMethodMetrics::HandledCounter(int code) {
  if (code < 0 || code >= kRpcCodes) code = kUnknownCode;
  Counter* counter = handled_[code].load(std::memory_order_acquire);
  if (counter != nullptr) return counter;
  Labels labels = labels_;
  labels.emplace_back("grpc_code", kCodeNames[code]);
  // Two threads may both get here: the registry returns the same counter to both.
  counter = registry_->GetCounter(
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.", labels);
  handled_[code].store(counter, std::memory_order_release);
  return counter;
}

void RpcMethodMetrics::CountHandled(int code, double seconds) {
  HandledCounter(code)->Increment();
  handling_seconds_->Observe(seconds);
}

void RpcCall::Finish(int code) const {
  if (metrics_ == nullptr) return;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  metrics_->CountHandled(code, elapsed.count());
}

RpcMethodMetrics* RpcServerMetrics::AddMethod(std::string_view service, std::string_view method,
                                              std::string_view type) {
  methods_.push_back(std::make_unique<RpcMethodMetrics>(registry_, service, method, type));
  paths_.push_back("/" + std::string(service) + "/" + std::string(method));
  return methods_.back().get();
}

}  // namespace proglog::telemetry
