#include "core/server/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/server/batch_service.h"
#include "core/server/executor.h"
#include "core/server/log_service.h"
#include "core/server/rpc_metrics.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace proglog::server {
namespace {

// How long Shutdown() lets in-flight RPCs finish before cancelling them.
constexpr auto kShutdownGrace = std::chrono::seconds(10);
// gRPC refuses larger messages itself (RESOURCE_EXHAUSTED) before we see them;
// leave room so values a little over the maximum get our INVALID_ARGUMENT.
constexpr uint64_t kMessageSlack = 1 << 20;

// The name health checks and reflection know the log service by.
constexpr char kLogServiceName[] = "log.v1.Log";
constexpr char kBatchServiceName[] = "log.v1.Batch";

// Makes sure the health service's descriptor is linked in and registered with
// the generated pool, which is where reflection looks symbols up.
void RegisterHealthDescriptor() {
  static_cast<void>(grpc::health::v1::HealthCheckRequest::descriptor());
}

// "host" part of "host:port", keeping IPv6 brackets.
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// gRPC's unix-socket URIs: no TCP port; gRPC reports 1 for them.
bool IsUnixAddress(const std::string& address) {
  return absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(CommitLog* log, Options options) {
  if (log == nullptr) return absl::InvalidArgumentError("Server::Start needs a commit log");
  if (options.max_in_flight_per_stream < 1) options.max_in_flight_per_stream = 1;
  // A batch of one record of the largest size must fit.
  options.max_batch_bytes = std::max(options.max_batch_bytes, options.max_record_bytes);
  std::unique_ptr<Server> server(new Server());
  server->options_ = std::move(options);
  const Options& opts = server->options_;
  server->reads_ = std::make_unique<Executor>(opts.read_threads);
  server->service_ = std::make_unique<LogService>(log, server->reads_.get(), &opts);
  server->batch_service_ = std::make_unique<BatchService>(server->service_.get());

  // Both are process-wide switches that take effect for servers built afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  RegisterHealthDescriptor();

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second node silently share
  // a busy port; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      opts.credentials ? opts.credentials : grpc::InsecureServerCredentials();
  if (opts.no_listener) {
    // Connections handed in get the same handshake (TLS or none) as a listener's.
    server->acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
  } else {
    builder.AddListeningPort(opts.address, credentials, &port);
  }
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->batch_service_.get());
  if (opts.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeRpcMetricsInterceptor(opts.metrics, server->service_->HandlerMetrics()));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  const uint64_t max_message =
      std::max(opts.max_record_bytes, opts.max_batch_bytes) + kMessageSlack;
  builder.SetMaxReceiveMessageSize(
      max_message > static_cast<uint64_t>(INT32_MAX) ? INT32_MAX : static_cast<int>(max_message));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || (!opts.no_listener && port == 0)) {
    server->reads_->Stop();
    if (opts.no_listener) return absl::InternalError("cannot start the gRPC server");
    return absl::UnavailableError(absl::StrCat("cannot listen on ", opts.address));
  }
  if (opts.no_listener) {
    // Nothing bound: Address() is empty and Port() 0.
  } else if (IsUnixAddress(opts.address)) {
    server->address_ = opts.address;
  } else {
    server->port_ = port;
    server->address_ = absl::StrCat(HostOf(opts.address), ":", port);
  }
  server->service_->SetSelfAddress(opts.advertise_address.empty() ? server->address_
                                                                  : opts.advertise_address);
  // Health for "" (the server) and for the log service by name; Shutdown's
  // SetServingStatus(false) turns both to NOT_SERVING.
  grpc::HealthCheckServiceInterface* health = server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(kLogServiceName, true);
  health->SetServingStatus(kBatchServiceName, true);
  health->SetServingStatus(true);
  return server;
}

Server::~Server() { Shutdown(); }

std::string Server::Address() const { return address_; }

absl::Status Server::AddConnection(int fd) {
  absl::MutexLock lock(&connections_mu_);
  if (acceptor_ == nullptr) {
    ::close(fd);
    return absl::FailedPreconditionError("the server has its own listener (no_listener is off)");
  }
  if (shutting_down_ || grpc_server_ == nullptr) {
    ::close(fd);
    return absl::UnavailableError("server is shutting down");
  }
  // gRPC's endpoints assume non-blocking sockets; a blocking one would stall a poller.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ::close(fd);
    return absl::InvalidArgumentError("connection fd cannot be made non-blocking");
  }
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
  connection.fd = fd;  // gRPC owns it from here on, and closes it
  acceptor_->HandleNewConnection(&connection);
  return absl::OkStatus();
}

void Server::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      absl::MutexLock lock(&connections_mu_);
      shutting_down_ = true;
    }
    if (grpc_server_ != nullptr) {
      // Refuse first, then report it: once health says NOT_SERVING, no new RPC is accepted.
      service_->BeginShutdown();
      grpc_server_->GetHealthCheckService()->SetServingStatus(false);
      grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
      grpc_server_->Wait();
    }
    // No RPC is left. The commit log belongs to the caller, who stops it next.
    if (reads_ != nullptr) reads_->Stop();
  });
}

}  // namespace proglog::server
