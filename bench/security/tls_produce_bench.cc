// Produce throughput of a node serving plaintext against the same node setup
// serving mutual TLS with the ACL, measured in the same run. Prints records
// per second for each and the ratio TLS / plaintext (the target is >= 0.8).
//
// Usage: security_tls_produce_bench [--seconds S] [--rounds N] [--value-bytes B]
//                                   [--durability always|never|interval:MS]
// Each round measures plaintext then TLS for S seconds per workload; the
// median over N rounds is printed. Workloads: unary Produce from 4 threads,
// and one ProduceStream with up to 256 requests in flight.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "core/node/node.h"
#include "core/security/acl.h"
#include "core/security/certificates.h"
#include "core/security/grpc_credentials.h"
#include "core/security/tls_config.h"
#include "log/v1/log.grpc.pb.h"

namespace proglog::security {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  double seconds = 1.0;
  int rounds = 3;
  size_t value_bytes = 256;
  std::string durability = "never";
};

struct Setup {
  std::unique_ptr<Authorizer> acl;
  std::unique_ptr<node::Node> node;
  std::shared_ptr<grpc::ChannelCredentials> client_credentials;
};

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "security_tls_produce_bench: %s: %s\n", what.c_str(),
               std::string(status.message()).c_str());
  std::exit(1);
}

node::Config NodeConfig(const std::filesystem::path& dir, const BenchOptions& options) {
  node::Config config;
  config.data_dir = dir;
  config.node_name = dir.filename().string();
  auto durability = log::Durability::Parse(options.durability);
  if (!durability.ok()) Die("--durability", durability.status());
  config.log.durability = *durability;
  return config;
}

Setup PlainNode(const std::filesystem::path& dir, const BenchOptions& options) {
  Setup setup;
  auto node = node::Node::Open(NodeConfig(dir, options));
  if (!node.ok()) Die("opening plaintext node", node.status());
  setup.node = *std::move(node);
  setup.client_credentials = grpc::InsecureChannelCredentials();
  return setup;
}

Setup TlsNode(const std::filesystem::path& dir, const std::filesystem::path& pki,
              const BenchOptions& options) {
  CaOptions ca;
  ca.out_dir = pki;
  if (auto made = CreateCertificateAuthority(ca); !made.ok()) Die("making CA", made.status());
  IssueOptions server;
  server.role = TlsRole::kServer;
  server.common_name = "bench-server";
  server.out_dir = pki;
  IssueOptions client = server;
  client.role = TlsRole::kClient;
  client.common_name = "root";
  for (const IssueOptions& o : {server, client}) {
    if (auto made = IssueCertificate(o); !made.ok()) Die("issuing", made.status());
  }
  std::ofstream(pki / "model.conf") << "[request_definition]\nr = sub, obj, act\n"
                                       "[policy_definition]\np = sub, obj, act\n"
                                       "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                       "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && "
                                       "r.act == p.act\n";
  std::ofstream(pki / "policy.csv") << "p, root, *, produce\np, root, *, consume\n";

  Setup setup;
  auto acl = Authorizer::Open({pki / "model.conf", pki / "policy.csv"});
  if (!acl.ok()) Die("opening ACL", acl.status());
  setup.acl = *std::move(acl);
  auto server_tls = TlsConfig::Load(TlsRole::kServer,
                                    {pki / "server.pem", pki / "server-key.pem", pki / "ca.pem"});
  if (!server_tls.ok()) Die("loading server TLS", server_tls.status());
  auto client_tls = TlsConfig::Load(
      TlsRole::kClient, {pki / "root-client.pem", pki / "root-client-key.pem", pki / "ca.pem"});
  if (!client_tls.ok()) Die("loading client TLS", client_tls.status());

  node::Config config = NodeConfig(dir, options);
  config.server_credentials = GrpcServerCredentials(*server_tls);
  config.authorizer = [acl = setup.acl.get()](std::string_view subject, std::string_view action) {
    return acl->Authorize(subject, kWildcardObject, action);
  };
  auto node = node::Node::Open(std::move(config));
  if (!node.ok()) Die("opening TLS node", node.status());
  setup.node = *std::move(node);
  setup.client_credentials = GrpcChannelCredentials(*client_tls);
  return setup;
}

// Records per second from 4 threads doing blocking unary Produce calls.
double UnaryThroughput(const Setup& setup, const BenchOptions& options) {
  constexpr int kThreads = 4;
  auto channel = grpc::CreateChannel(setup.node->RpcAddress(), setup.client_credentials);
  std::string value(options.value_bytes, 'v');
  std::atomic<uint64_t> done{0};
  std::atomic<bool> failed{false};
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(options.seconds));
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = logpb::v1::Log::NewStub(channel);
      logpb::v1::ProduceRequest request;
      request.mutable_record()->set_value(value);
      while (Clock::now() < end && !failed.load()) {
        grpc::ClientContext context;
        logpb::v1::ProduceResponse response;
        if (!stub->Produce(&context, request, &response).ok()) failed.store(true);
        done.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failed.load()) Die("unary produce", absl::UnknownError("an RPC failed"));
  return static_cast<double>(done.load()) /
         std::chrono::duration<double>(Clock::now() - start).count();
}

// Records per second over one ProduceStream with a bounded number in flight.
double StreamThroughput(const Setup& setup, const BenchOptions& options) {
  constexpr int kWindow = 256;
  auto stub = logpb::v1::Log::NewStub(
      grpc::CreateChannel(setup.node->RpcAddress(), setup.client_credentials));
  grpc::ClientContext context;
  auto stream = stub->ProduceStream(&context);
  std::counting_semaphore<kWindow> window(kWindow);
  std::atomic<uint64_t> acked{0};
  std::thread reader([&] {
    logpb::v1::ProduceResponse response;
    while (stream->Read(&response)) {
      acked.fetch_add(1);
      window.release();
    }
  });
  logpb::v1::ProduceRequest request;
  request.mutable_record()->set_value(std::string(options.value_bytes, 'v'));
  Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(options.seconds);
  uint64_t sent = 0;
  while (Clock::now() - start < budget) {
    if (!window.try_acquire_for(std::chrono::seconds(10))) break;  // the server stalled
    if (!stream->Write(request)) break;
    ++sent;
  }
  stream->WritesDone();
  reader.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  grpc::Status status = stream->Finish();
  if (!status.ok() || acked.load() != sent) {
    Die("produce stream",
        absl::UnknownError(status.error_message() + " (acked " + std::to_string(acked.load()) +
                           " of " + std::to_string(sent) + ")"));
  }
  return static_cast<double>(acked.load()) / elapsed;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

BenchOptions ParseArgs(int argc, char** argv) {
  BenchOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") {
      options.seconds = std::atof(argv[i + 1]);
    } else if (flag == "--rounds") {
      options.rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--value-bytes") {
      options.value_bytes = static_cast<size_t>(std::max(1, std::atoi(argv[i + 1])));
    } else if (flag == "--durability") {
      options.durability = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return options;
}

int Run(int argc, char** argv) {
  BenchOptions options = ParseArgs(argc, argv);
  std::string pattern =
      (std::filesystem::temp_directory_path() / "proglog-tls-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp", absl::InternalError("failed"));
  std::filesystem::path root = pattern;
  std::filesystem::create_directories(root / "pki");
  {
    Setup plain = PlainNode(root / "plain", options);
    Setup tls = TlsNode(root / "tls", root / "pki", options);
    std::printf("security_tls_produce_bench: value %zu B, durability %s, %d rounds x %.1f s\n",
                options.value_bytes, options.durability.c_str(), options.rounds, options.seconds);
    std::printf("%-22s %14s %14s %8s\n", "workload", "plain rec/s", "tls rec/s", "ratio");
    struct Workload {
      const char* name;
      double (*measure)(const Setup&, const BenchOptions&);
    };
    for (const Workload& w : {Workload{"unary Produce x4", UnaryThroughput},
                              Workload{"ProduceStream", StreamThroughput}}) {
      std::vector<double> plain_rates, tls_rates;
      for (int r = 0; r < options.rounds; ++r) {
        plain_rates.push_back(w.measure(plain, options));
        tls_rates.push_back(w.measure(tls, options));
      }
      double p = Median(plain_rates), t = Median(tls_rates);
      std::printf("%-22s %14.0f %14.0f %8.2f\n", w.name, p, t, t / p);
    }
    plain.node->Close().IgnoreError();
    tls.node->Close().IgnoreError();
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}

}  // namespace
}  // namespace proglog::security

int main(int argc, char** argv) { return proglog::security::Run(argc, argv); }
