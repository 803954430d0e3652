#include "core/server/rpc_metrics.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "google/protobuf/descriptor.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;
using telemetry::RpcCall;
using telemetry::RpcMethodMetrics;

std::string_view TypeLabel(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming()) {
    return method.server_streaming() ? telemetry::kRpcBidiStream : telemetry::kRpcClientStream;
  }
  return method.server_streaming() ? telemetry::kRpcServerStream : telemetry::kRpcUnary;
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(RpcMethodMetrics* metrics) : call_(metrics) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      call_.Received();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      call_.Sent();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      call_.Finish(static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  const RpcCall call_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsFactory(telemetry::Registry* registry,
                    const telemetry::RpcServerMetrics* recorded_by_handlers)
      : metrics_(registry) {
    if (recorded_by_handlers != nullptr) {
      for (const std::string& path : recorded_by_handlers->MethodPaths()) skipped_.insert(path);
    }
    // Methods of ours that the handlers do not record (none today), then
    // gRPC's own services (not in the protobuf pool of this binary).
    AddService(logpb::v1::Log::service_full_name());
    AddService(logpb::v1::Batch::service_full_name());
    Add("grpc.health.v1.Health", "Check", telemetry::kRpcUnary);
    Add("grpc.health.v1.Health", "Watch", telemetry::kRpcServerStream);
    Add("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
        telemetry::kRpcBidiStream);
    unknown_ = metrics_.AddMethod("unknown", "unknown", telemetry::kRpcUnary);
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    const absl::string_view path(info->method());
    if (skipped_.contains(path)) return nullptr;  // the handler records it
    auto it = methods_.find(path);
    return new RpcMetricsInterceptor(it == methods_.end() ? unknown_ : it->second);
  }

 private:
  void AddService(const char* service_name) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
    if (service == nullptr) return;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      Add(service_name, method->name(), TypeLabel(*method));
    }
  }

  void Add(const std::string& service, const std::string& method, std::string_view type) {
    const std::string path = "/" + service + "/" + method;
    if (skipped_.contains(path)) return;
    methods_.emplace(path, metrics_.AddMethod(service, method, type));
  }

  // Filled in the constructor, read-only afterwards: lookups need no lock.
  telemetry::RpcServerMetrics metrics_;
  absl::flat_hash_set<std::string> skipped_;
  absl::flat_hash_map<std::string, RpcMethodMetrics*> methods_;
  RpcMethodMetrics* unknown_ = nullptr;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    telemetry::Registry* registry, const telemetry::RpcServerMetrics* recorded_by_handlers) {
  return std::make_unique<RpcMetricsFactory>(registry, recorded_by_handlers);
}

}  // namespace proglog::server
