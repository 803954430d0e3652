#include "core/server/server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/server/append_queue.h"
#include "core/server/executor.h"
#include "core/server/log_service.h"
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

// "host" part of "host:port", keeping IPv6 brackets.
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(log::Log* log, Options options) {
  if (log == nullptr) return absl::InvalidArgumentError("Server::Start needs a log");
  if (options.max_in_flight_per_stream < 1) options.max_in_flight_per_stream = 1;
  std::unique_ptr<Server> server(new Server());
  server->options_ = std::move(options);
  const Options& opts = server->options_;
  server->appends_ = std::make_unique<AppendQueue>(log, opts.max_batch_bytes);
  server->reads_ = std::make_unique<Executor>(opts.read_threads);
  server->service_ =
      std::make_unique<LogService>(log, server->appends_.get(), server->reads_.get(), &opts);

  // Both are process-wide switches that take effect for servers built afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second node silently share
  // a busy port; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::shared_ptr<grpc::ServerCredentials> credentials =
      opts.credentials ? opts.credentials : grpc::InsecureServerCredentials();
  int port = 0;
  builder.AddListeningPort(opts.address, credentials, &port);
  builder.RegisterService(server->service_.get());
  const uint64_t max_message = opts.max_record_bytes + kMessageSlack;
  builder.SetMaxReceiveMessageSize(
      max_message > static_cast<uint64_t>(INT32_MAX) ? INT32_MAX : static_cast<int>(max_message));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || port == 0) {
    server->appends_->Stop();
    server->reads_->Stop();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", opts.address));
  }
  server->port_ = port;
  server->host_ = HostOf(opts.address);
  server->service_->SetSelfAddress(server->Address());
  server->grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

Server::~Server() { Shutdown(); }

std::string Server::Address() const { return absl::StrCat(host_, ":", port_); }

void Server::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (grpc_server_ != nullptr) {
      // Refuse first, then report it: once health says NOT_SERVING, no new RPC is accepted.
      service_->BeginShutdown();
      grpc_server_->GetHealthCheckService()->SetServingStatus(false);
      grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
      grpc_server_->Wait();
    }
    // No RPC is left; anything still queued has no one waiting but is appended anyway.
    if (appends_ != nullptr) appends_->Stop();
    if (reads_ != nullptr) reads_->Stop();
  });
}

}  // namespace proglog::server
