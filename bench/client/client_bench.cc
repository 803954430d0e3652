// proglog-bench-client: what the load-balancing client's routing costs a unary
// Produce, in instructions, so the figure does not move with the machine's load.
//
//   valgrind --tool=callgrind proglog-bench-client [--proglog PATH] [--calls N]
//            [--rounds R] [--value-bytes B]
//
// One `proglog` node (a bootstrapped one-node cluster, --fsync=never) runs in a
// child process, which callgrind does not follow. This process makes N unary
// Produce calls through a plain generated stub on its own channel ("direct"),
// then N through proglog::client::Client given the node's address, in R rounds
// whose order alternates, and prints the instructions it executed per call,
// every thread included (gRPC's pollers, the client's own). The difference is
// the client's routing: the picker, the channel pool, deadlines, retry and
// trailer bookkeeping. The server is the same for both, so it is left out.
// The time both take on a cluster is proglog-bench-cluster's client section.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "bench/callgrind/callgrind_count.h"
#include "core/client/client.h"
#include "log/v1/log.grpc.pb.h"

extern char** environ;

namespace {

#ifndef PROGLOG_BENCH_DEFAULT_BINARY
#define PROGLOG_BENCH_DEFAULT_BINARY "proglog"
#endif

struct Flags {
  std::string proglog = PROGLOG_BENCH_DEFAULT_BINARY;
  int calls = 2000;
  int rounds = 4;
  size_t value_bytes = 100;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "proglog-bench-client: %s\n", what.c_str());
  std::exit(1);
}

// A loopback port nothing holds now, of the given socket type.
int FreePort(int type) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die(std::string("no free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One `proglog` process on a fresh data dir, killed with the object.
class Node {
 public:
  explicit Node(const Flags& flags)
      : dir_(std::filesystem::temp_directory_path() /
             ("proglog-bench-client-" + std::to_string(getpid()))),
        rpc_port_(FreePort(SOCK_STREAM)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {flags.proglog,
                                     "--data-dir",
                                     (dir_ / "data").string(),
                                     "--node-name",
                                     "n1",
                                     "--rpc-port",
                                     std::to_string(rpc_port_),
                                     "--bind-addr",
                                     "127.0.0.1:" + std::to_string(FreePort(SOCK_DGRAM)),
                                     "--bootstrap",
                                     "--fsync",
                                     "never"};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = (dir_ / "node.log").string();
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) Die("spawn " + flags.proglog + ": " + std::strerror(rc));
  }
  ~Node() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  std::string Address() const { return "127.0.0.1:" + std::to_string(rpc_port_); }

  // Returns once GetServers names a leader; exits after 60 s (callgrind is slow).
  void WaitLeader(logpb::v1::Log::Stub& stub) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      logpb::v1::GetServersResponse response;
      if (stub.GetServers(&context, logpb::v1::GetServersRequest(), &response).ok()) {
        for (const auto& server : response.servers()) {
          if (server.is_leader()) return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Die("the node did not elect itself within 60 s; its log is in " + dir_.string());
  }

 private:
  std::filesystem::path dir_;
  int rpc_port_;
  pid_t pid_ = -1;
};

// `calls` unary produces, each through `produce`; exits on a failure, since a
// failed call costs a different number of instructions.
void Produces(int calls, const std::function<bool()>& produce) {
  for (int n = 0; n < calls; ++n) {
    if (!produce()) Die("a produce failed");
  }
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = value != nullptr;
    if (arg == "--proglog" && ok) {
      flags.proglog = value;
    } else if (arg == "--calls" && ok) {
      ok = absl::SimpleAtoi(value, &flags.calls) && flags.calls > 0;
    } else if (arg == "--rounds" && ok) {
      ok = absl::SimpleAtoi(value, &flags.rounds) && flags.rounds > 0;
    } else if (arg == "--value-bytes" && ok) {
      ok = absl::SimpleAtoi(value, &flags.value_bytes);
    } else {
      Die("usage: valgrind --tool=callgrind proglog-bench-client [--proglog PATH] "
          "[--calls N] [--rounds R] [--value-bytes B]");
    }
    if (!ok) Die(arg + ": needs a positive number");
    ++i;
  }
  return flags;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  if (!proglog::bench::UnderValgrind()) {
    Die("counts instructions: run it under valgrind --tool=callgrind");
  }
  Node node(flags);
  auto direct = logpb::v1::Log::NewStub(
      grpc::CreateChannel(node.Address(), grpc::InsecureChannelCredentials()));
  node.WaitLeader(*direct);
  proglog::client::Options options;
  options.addresses = {node.Address()};
  auto client = proglog::client::Client::Open(options);
  if (!client.ok()) Die("client: " + client.status().ToString());

  const std::string value(flags.value_bytes, 'v');
  auto direct_produce = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    logpb::v1::ProduceRequest request;
    request.mutable_record()->set_value(value);
    logpb::v1::ProduceResponse response;
    return direct->Produce(&context, request, &response).ok();
  };
  auto client_produce = [&] { return (*client)->Produce(value).ok(); };
  Produces(200, direct_produce);  // warm-up: connections, allocator, the client's first refresh
  Produces(200, client_produce);

  std::vector<double> direct_per_call, client_per_call;
  auto count = [&](const char* label, const std::function<bool()>& produce,
                   std::vector<double>& per_call) {
    const auto total =
        proglog::bench::CountInstructions(label, [&] { Produces(flags.calls, produce); });
    if (!total) Die("no callgrind dump of this process in the working directory");
    per_call.push_back(*total / flags.calls);
  };
  for (int round = 0; round < flags.rounds; ++round) {
    if (round % 2 == 0) {
      count("direct", direct_produce, direct_per_call);
      count("client", client_produce, client_per_call);
    } else {
      count("client", client_produce, client_per_call);
      count("direct", direct_produce, direct_per_call);
    }
  }
  for (int round = 0; round < flags.rounds; ++round) {
    std::printf("round %d: direct %.0f, client %.0f instructions per call\n", round + 1,
                direct_per_call[round], client_per_call[round]);
  }
  const double d = Median(direct_per_call), c = Median(client_per_call);
  std::printf(
      "unary Produce of %zu B, %d calls per side, %d rounds; instructions this process "
      "executed per call (median of the rounds)\n"
      "  direct stub   %10.0f\n  client        %10.0f\n  routing cost  %+9.2f%%\n",
      flags.value_bytes, flags.calls, flags.rounds, d, c, (c - d) / d * 100);
  return 0;
}
