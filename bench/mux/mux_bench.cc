// proglog-bench-mux: what the port mux costs a unary gRPC call. An echo
// service (callback API) is served four ways: plaintext on its own TCP
// listener, plaintext through the mux, TLS on its own listener, TLS through
// the mux (through the mux, each accepted socket is handed to gRPC's external
// connection acceptor, which runs the TLS handshake itself). For each it prints the latency of
// sequential unary calls (mean, p50, p99) and the throughput of 8 threads sharing one channel, at
// 16-byte and 64-KiB payloads.
//   usage: proglog-bench-mux [calls]   (default 3000)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/mux/mux.h"
#include "core/security/certificates.h"
#include "core/security/grpc_credentials.h"
#include "core/security/tls_config.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace sec = proglog::security;

// Echoes each request; a unary call is one read, one write, then OK.
class EchoService : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { StartRead(&buffer_); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        StartWrite(&buffer_);
      }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        StartRead(&buffer_);
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer buffer_;
    };
    return new Reactor;
  }
};

bool Call(grpc::GenericStub& stub, const grpc::ByteBuffer& request) {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, "/bench.Echo/Echo", request, &queue);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  return status.ok() && response.Length() == request.Length();
}

struct Setup {
  std::string name;
  bool tls;
  bool via_mux;
};

struct Pki {
  std::optional<sec::TlsConfig> server;
  std::optional<sec::TlsConfig> client;
};

void Run(const Setup& setup, const Pki& pki, int calls) {
  EchoService echo;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&echo);
  builder.SetMaxReceiveMessageSize(1 << 24);
  std::shared_ptr<grpc::ServerCredentials> creds =
      setup.tls ? sec::GrpcServerCredentials(*pki.server) : grpc::InsecureServerCredentials();
  std::unique_ptr<proglog::mux::Mux> mux;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;
  int port = 0;
  if (setup.via_mux) {
    proglog::mux::Options options;
    options.grpc_tls = setup.tls;
    mux = *proglog::mux::Mux::Listen(options);
    acceptor = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, creds);
    port = mux->Port();
  } else {
    builder.AddListeningPort("127.0.0.1:0", creds, &port);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    std::fprintf(stderr, "%s: server did not start\n", setup.name.c_str());
    std::exit(1);
  }
  if (mux != nullptr) {
    auto hand_to_grpc = [&acceptor](int fd) {
      grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
      connection.fd = fd;
      acceptor->HandleNewConnection(&connection);
      return absl::OkStatus();
    };
    (void)mux->Start(hand_to_grpc, nullptr);
  }

  const std::string target = "127.0.0.1:" + std::to_string(port);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 24);
  auto channel = grpc::CreateCustomChannel(
      target,
      setup.tls ? sec::GrpcChannelCredentials(*pki.client) : grpc::InsecureChannelCredentials(),
      args);
  grpc::GenericStub stub(channel);

  for (size_t payload : {size_t{16}, size_t{64 * 1024}}) {
    std::string bytes(payload, 'x');
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    const int n = payload > 1024 ? calls / 3 : calls;
    for (int i = 0; i < 200; ++i) Call(stub, request);  // warm up: connect, TLS, HTTP/2 windows
    std::vector<double> us;
    us.reserve(n);
    for (int i = 0; i < n; ++i) {
      auto start = Clock::now();
      if (!Call(stub, request)) {
        std::fprintf(stderr, "%s: call failed\n", setup.name.c_str());
        std::exit(1);
      }
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    std::sort(us.begin(), us.end());
    double mean = 0;
    for (double v : us) mean += v;
    mean /= us.size();

    constexpr int kThreads = 8;
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < n / 2; ++i) {
          if (Call(stub, request)) done.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "%-12s %7zu B  seq: mean %7.1f us  p50 %7.1f us  p99 %7.1f us   8 threads: %8.0f calls/s\n",
        setup.name.c_str(), payload, mean, us[us.size() / 2], us[us.size() * 99 / 100],
        done.load() / seconds);
  }
  if (mux != nullptr) mux->StopAccepting();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (mux != nullptr) mux->Shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 3000;
  char dir_template[] = "/tmp/proglog-bench-mux-XXXXXX";
  const std::filesystem::path dir = mkdtemp(dir_template);
  sec::CaOptions ca;
  ca.out_dir = dir;
  if (!sec::CreateCertificateAuthority(ca).ok()) return 1;
  auto issue = [&](sec::TlsRole role, const std::string& cn) {
    sec::IssueOptions o;
    o.role = role;
    o.common_name = cn;
    o.out_dir = dir;
    auto files = sec::IssueCertificate(o);
    return *sec::TlsConfig::Load(role, {files->cert_file, files->key_file, dir / "ca.pem"});
  };
  Pki pki;
  pki.server = issue(sec::TlsRole::kServer, "server");
  pki.client = issue(sec::TlsRole::kClient, "root");

  std::printf("unary echo over loopback, %d sequential calls (1/3 of that at 64 KiB)\n", calls);
  for (const Setup& s : {Setup{"plain direct", false, false}, Setup{"plain mux", false, true},
                         Setup{"tls direct", true, false}, Setup{"tls mux", true, true}}) {
    Run(s, pki, calls);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
