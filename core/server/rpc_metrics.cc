#include "core/server/rpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/descriptor.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;
using telemetry::Counter;
using telemetry::Labels;

constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

constexpr std::array<const char*, kCodes> kCodeNames = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

const char* TypeLabel(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

// The series of one method. Handled counters per code are created on first
// use (under the registry's mutex, once) and read lock-free afterwards.
class MethodMetrics {
 public:
  MethodMetrics(telemetry::Registry* registry, std::string service, std::string method,
                std::string type)
      : registry_(registry),
        labels_{{"grpc_method", std::move(method)},
                {"grpc_service", std::move(service)},
                {"grpc_type", std::move(type)}} {
    started_ = registry->GetCounter("grpc_server_started_total",
                                    "Total number of RPCs started on the server.", labels_);
    received_ = registry->GetCounter("grpc_server_msg_received_total",
                                     "Total number of RPC stream messages received on the server.",
                                     labels_);
    sent_ =
        registry->GetCounter("grpc_server_msg_sent_total",
                             "Total number of gRPC stream messages sent by the server.", labels_);
    handling_ = registry->GetHistogram(
        "grpc_server_handling_seconds",
        "Histogram of response latency (seconds) of gRPC that had been application-level "
        "handled by the server.",
        telemetry::LatencyBuckets(), labels_);
    // OK is the common case: create it up front so a fresh server shows it at zero.
    Handled(0);
  }

  Counter* Handled(int code) {
    if (code < 0 || code >= kCodes) code = 2;  // Unknown
    Counter* counter = handled_[code].load(std::memory_order_acquire);
    if (counter != nullptr) return counter;
    Labels labels = labels_;
    labels.emplace_back("grpc_code", kCodeNames[code]);
    counter = registry_->GetCounter("grpc_server_handled_total",
                                    "Total number of RPCs completed on the server, regardless "
                                    "of success or failure.",
                                    labels);
    handled_[code].store(counter, std::memory_order_release);
    return counter;
  }

  Counter* started_;
  Counter* received_;
  Counter* sent_;
  telemetry::Histogram* handling_;

 private:
  telemetry::Registry* const registry_;
  const Labels labels_;
  std::array<std::atomic<Counter*>, kCodes> handled_{};
};

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(MethodMetrics* metrics)
      : metrics_(metrics), start_(std::chrono::steady_clock::now()) {
    metrics_->started_->Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      metrics_->received_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      metrics_->sent_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Handled(static_cast<int>(methods->GetSendStatus().error_code()))->Increment();
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      metrics_->handling_->Observe(elapsed.count());
    }
    methods->Proceed();
  }

 private:
  MethodMetrics* const metrics_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(telemetry::Registry* registry)
      : unknown_(registry, "unknown", "unknown", "unary") {
    AddService(registry, logpb::v1::Log::service_full_name());
    AddService(registry, logpb::v1::Batch::service_full_name());
    // Services gRPC itself provides (not in the protobuf pool of this binary).
    Add(registry, "grpc.health.v1.Health", "Check", "unary");
    Add(registry, "grpc.health.v1.Health", "Watch", "server_stream");
    Add(registry, "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
        "bidi_stream");
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    auto it = methods_.find(absl::string_view(info->method()));
    return new RpcMetricsInterceptor(it == methods_.end() ? &unknown_ : it->second.get());
  }

 private:
  void AddService(telemetry::Registry* registry, const char* service_name) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
    if (service == nullptr) return;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      const ServerRpcInfo::Type type =
          method->client_streaming()
              ? (method->server_streaming() ? ServerRpcInfo::Type::BIDI_STREAMING
                                            : ServerRpcInfo::Type::CLIENT_STREAMING)
              : (method->server_streaming() ? ServerRpcInfo::Type::SERVER_STREAMING
                                            : ServerRpcInfo::Type::UNARY);
      Add(registry, service_name, method->name(), TypeLabel(type));
    }
  }

  void Add(telemetry::Registry* registry, const std::string& service, const std::string& method,
           const char* type) {
    methods_.emplace("/" + service + "/" + method,
                     std::make_unique<MethodMetrics>(registry, service, method, type));
  }

  // Filled in the constructor, read-only afterwards: lookups need no lock.
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_;
  MethodMetrics unknown_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    telemetry::Registry* registry) {
  return std::make_unique<RpcMetricsFactory>(registry);
}

}  // namespace proglog::server
