// core/server/malformed_requests: method handlers that answer a request body
// that does not parse with INVALID_ARGUMENT and a message. gRPC's own callback
// handlers answer it with UNIMPLEMENTED and no message, which sends a client
// looking for a missing method instead of at its own bytes. Internal to
// core/server.
//
// Each handler runs the service's method as the generated code does when the
// body parses; when it does not, it runs a second handler of the same kind
// whose reactor only finishes the call with the error. Both kinds parse the
// body the same way (no message allocator), so either may run what the
// other's Deserialize produced.
//
// A malformed request still counts in the method's grpc_server_* series
// (started, received, handled with InvalidArgument) when metrics are given.
//
// Thread-safety: as gRPC's handlers; they hold no mutable state.
#ifndef PROGLOG_CORE_SERVER_MALFORMED_REQUESTS_H_
#define PROGLOG_CORE_SERVER_MALFORMED_REQUESTS_H_

#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/telemetry/rpc_metrics.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"

namespace proglog::server::internal {

inline grpc::Status MalformedRequestStatus(const std::string& message_type) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("malformed request: the body is not a valid ", message_type,
                                   " message (protobuf encoding)"));
}

// Counts a malformed request in `metrics` (null: nothing).
inline void CountMalformed(telemetry::RpcMethodMetrics* metrics) {
  const telemetry::RpcCall call(metrics);
  call.Received();
  call.Finish(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
}

// The handler parameters of a call whose body did not parse, passed on as
// parsed so the handler runs its reactor getter; `request` replaces the
// request the failed parse left.
inline grpc::internal::MethodHandler::HandlerParameter AsParsed(
    const grpc::internal::MethodHandler::HandlerParameter& param, void* request) {
  return grpc::internal::MethodHandler::HandlerParameter(param.call, param.server_context, request,
                                                         grpc::Status::OK, param.internal_data,
                                                         param.call_requester);
}

template <class Request, class Response>
class CheckedUnaryHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::ServerUnaryReactor*(grpc::CallbackServerContext*,
                                                         const Request*, Response*)>;

  // `metrics` (borrowed; null: none) counts the malformed requests; the
  // method counts the others.
  CheckedUnaryHandler(Method method, telemetry::RpcMethodMetrics* metrics)
      : parsed_(std::move(method)),
        malformed_([metrics](grpc::CallbackServerContext* context, const Request*, Response*) {
          CountMalformed(metrics);
          grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
          reactor->Finish(MalformedRequestStatus(Request::descriptor()->full_name()));
          return reactor;
        }) {}

  void RunHandler(const HandlerParameter& param) override {
    // A unary handler's request lives in the message holder that Deserialize
    // put in internal_data, also when parsing failed.
    if (param.status.ok()) {
      parsed_.RunHandler(param);
    } else {
      malformed_.RunHandler(AsParsed(param, nullptr));
    }
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* request, grpc::Status* status,
                    void** handler_data) override {
    return parsed_.Deserialize(call, request, status, handler_data);
  }

 private:
  grpc::internal::CallbackUnaryHandler<Request, Response> parsed_;
  grpc::internal::CallbackUnaryHandler<Request, Response> malformed_;
};

template <class Request, class Response>
class CheckedServerStreamingHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::ServerWriteReactor<Response>*(grpc::CallbackServerContext*,
                                                                   const Request*)>;

  // `metrics` (borrowed; null: none) counts the malformed requests; the
  // method counts the others.
  CheckedServerStreamingHandler(Method method, telemetry::RpcMethodMetrics* metrics)
      : parsed_(std::move(method)),
        malformed_([metrics](grpc::CallbackServerContext*, const Request*) {
          CountMalformed(metrics);
          return new Rejection(MalformedRequestStatus(Request::descriptor()->full_name()));
        }) {}

  void RunHandler(const HandlerParameter& param) override {
    if (param.status.ok()) {
      parsed_.RunHandler(param);
      return;
    }
    // The failed parse destroyed its request; the writer destroys the one it
    // is given, so it gets an empty one from the call's arena.
    void* memory =
        grpc::g_core_codegen_interface->grpc_call_arena_alloc(param.call->call(), sizeof(Request));
    malformed_.RunHandler(AsParsed(param, new (memory) Request()));
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* request, grpc::Status* status,
                    void** handler_data) override {
    return parsed_.Deserialize(call, request, status, handler_data);
  }

 private:
  // Finishes at once with `status`, then deletes itself.
  class Rejection final : public grpc::ServerWriteReactor<Response> {
   public:
    explicit Rejection(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override { delete this; }
  };

  grpc::internal::CallbackServerStreamingHandler<Request, Response> parsed_;
  grpc::internal::CallbackServerStreamingHandler<Request, Response> malformed_;
};

}  // namespace proglog::server::internal

#endif  // PROGLOG_CORE_SERVER_MALFORMED_REQUESTS_H_
