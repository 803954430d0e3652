// proglog-bench-server: a node's gRPC services under load over loopback.
//
// The node runs in a child process (this binary with --serve), so its CPU time
// per operation can be read from /proc/<pid>/stat; the clients run here, on the
// same machine, each with its own channel. For every combination of transport
// (plaintext, mutual TLS with an ACL), durability (--fsync) and value size, a
// fresh node serves these workloads at each client count:
//   health          grpc.health.v1.Health/Check: the RPC layer's ceiling (a null RPC)
//   produce         unary log.v1 Produce, one at a time per client (closed loop)
//   produce-stream  pipelined ProduceStream (256 requests in flight per stream)
//   produce-batch   log.v1.Batch/ProduceBatch of --batch-bytes of values per call
//   consume         unary Consume of random offsets
//   consume-stream  ConsumeStream from offset 0 to the end, again while time is left
//   consume-batch   ConsumeBatch of up to 1 MiB per call, walking the log
//   cbatch-stream   ConsumeBatchStream of up to 1 MiB per message, as consume-stream
//   ghz-health      with --ghz PATH: the health check again, from ghz (grpc-go)
//   ghz-produce     with --ghz PATH: unary Produce from ghz
// ghz runs as a separate process with one connection per client, so its rates
// do not depend on our client stack; in-process and external generators
// disagree, and both are printed, each with its own health ceiling.
// Each line gives records/s, MB/s of values, p50/p99 latency per call, the
// node's CPU per record (user + system, from /proc), records per fsync (from
// the node's proglog_log_records_per_fsync histogram) for produces with
// --fsync=always, for unary calls the ratio to the health ceiling, and for
// streamed and batched consumes the ratio to loopback TCP bandwidth (one
// connection, measured at the start). Figures
// are printed, never checked.
//
// Usage: proglog-bench-server [--seconds S] [--value-bytes 100,1024]
//          [--clients 1,16] [--fsync always,never] [--tls off,on]
//          [--mode raft|local] [--workloads health,produce,...]
//          [--batch-bytes B] [--dir D] [--ghz PATH]
// --mode raft (default) runs the node as the `proglog` binary does: Raft over
// the log, a one-voter cluster. --mode local runs the single log without Raft
// (LocalCommitLog), what an embedded node without cluster settings uses.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <semaphore>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/client/batch_rpc.h"
#include "core/node/dedicated_process.h"
#include "core/node/node.h"
#include "core/security/certificates.h"
#include "core/security/grpc_credentials.h"
#include "core/security/tls_config.h"
#include "core/telemetry/metrics.h"
#include "log/v1/batch.grpc.pb.h"
#include "log/v1/log.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using logpb::v1::ConsumeRequest;
using logpb::v1::ConsumeResponse;
using logpb::v1::ProduceRequest;
using logpb::v1::ProduceResponse;

struct Flags {
  double seconds = 0.4;
  std::vector<size_t> value_bytes = {100, 1024};
  std::vector<int> clients = {1, 16};
  std::vector<std::string> fsync = {"always", "never"};
  std::vector<bool> tls = {false, true};
  std::string mode = "raft";
  std::vector<std::string> workloads = {"health",        "produce",      "produce-stream",
                                        "produce-batch", "consume",      "consume-stream",
                                        "consume-batch", "cbatch-stream"};
  size_t batch_bytes = 256 * 1024;
  std::filesystem::path dir;
  std::string ghz;  // the ghz binary; empty: no external generator
};

struct Result {
  uint64_t calls = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::vector<int64_t> latencies_ns;

  void Add(const Result& other) {
    calls += other.calls;
    records += other.records;
    bytes += other.bytes;
    latencies_ns.insert(latencies_ns.end(), other.latencies_ns.begin(), other.latencies_ns.end());
  }
};

double Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k] / 1e3;  // microseconds
}

// ---------------------------------------------------------------------------
// The node, in a child process.

struct ServeSpec {
  std::filesystem::path data_dir;
  std::string fsync;
  bool tls = false;
  std::string mode;
  std::filesystem::path certs;  // with tls: ca.pem, server*.pem, model.conf, policy.csv
};

// The child's replies to the parent.
constexpr int kReplyFd = 3;

// Child: opens the node, writes its address to kReplyFd, then answers "stats"
// lines on stdin with "<records fsynced> <fsyncs>" until stdin closes.
int Serve(const ServeSpec& spec) {
  spdlog::set_level(spdlog::level::warn);
  FILE* replies = ::fdopen(kReplyFd, "w");
  if (replies == nullptr) return 1;
  absl::StatusOr<proglog::log::Durability> durability = proglog::log::Durability::Parse(spec.fsync);
  if (!durability.ok()) {
    std::fprintf(stderr, "%s\n", durability.status().ToString().c_str());
    return 2;
  }
  proglog::node::Config config;
  config.data_dir = spec.data_dir;
  config.node_name = "bench";
  config.log.durability = *durability;
  config.log.max_store_bytes = 256ull << 20;
  if (spec.tls) {
    config.security.server_tls_cert_file = spec.certs / "server.pem";
    config.security.server_tls_key_file = spec.certs / "server-key.pem";
    config.security.server_tls_ca_file = spec.certs / "ca.pem";
    config.security.acl_model_file = spec.certs / "model.conf";
    config.security.acl_policy_file = spec.certs / "policy.csv";
  }
  if (spec.mode == "raft") {
    config.cluster.enabled = true;
    config.cluster.bootstrap = true;
    config.cluster.bind_addr = "127.0.0.1:0";
  }
  auto node = proglog::node::Node::Open(config);
  if (!node.ok()) {
    std::fprintf(stderr, "open node: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::fprintf(replies, "%s\n", (*node)->RpcAddress().c_str());
  std::fflush(replies);
  std::string line;
  while (std::getline(std::cin, line)) {
    double sum = 0, count = 0;
    proglog::telemetry::Registry* metrics = (*node)->Metrics();
    if (metrics == nullptr) metrics = proglog::telemetry::DefaultRegistry();
    std::istringstream text(metrics->RenderText());
    std::string metric;
    while (std::getline(text, metric)) {
      if (metric.rfind("proglog_log_records_per_fsync_sum", 0) == 0) {
        sum = std::strtod(metric.c_str() + metric.rfind(' ') + 1, nullptr);
      } else if (metric.rfind("proglog_log_records_per_fsync_count", 0) == 0) {
        count = std::strtod(metric.c_str() + metric.rfind(' ') + 1, nullptr);
      }
    }
    std::fprintf(replies, "%.0f %.0f\n", sum, count);
    std::fflush(replies);
  }
  return (*node)->Close().ok() ? 0 : 1;
}

class ServerProcess {
 public:
  explicit ServerProcess(const ServeSpec& spec) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      // Replies go to fd 3; stdout (the node's log lines) goes to stderr.
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], kReplyFd);
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
      ::close(to_child[1]);
      ::close(from_child[0]);
      const std::string data = spec.data_dir.string(), certs = spec.certs.string();
      ::execl("/proc/self/exe", "proglog-bench-server", "--serve", data.c_str(), spec.fsync.c_str(),
              spec.tls ? "tls" : "plain", spec.mode.c_str(), certs.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_ = to_child[1];
    from_ = from_child[0];
    address_ = ReadLine();
  }
  ~ServerProcess() {
    if (to_ >= 0) ::close(to_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    if (from_ >= 0) ::close(from_);
  }

  const std::string& Address() const { return address_; }
  pid_t Pid() const { return pid_; }

  // User + system CPU seconds of the node so far.
  double CpuSeconds() const {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may hold spaces), from field 3 on.
    std::istringstream rest(text.substr(text.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / ::sysconf(_SC_CLK_TCK);
  }

  // (records fsynced, fsyncs) of group commits so far.
  std::pair<double, double> Fsyncs() {
    if (::write(to_, "stats\n", 6) != 6) return {0, 0};
    const std::string line = ReadLine();
    double sum = 0, count = 0;
    std::sscanf(line.c_str(), "%lf %lf", &sum, &count);
    return {sum, count};
  }

 private:
  std::string ReadLine() {
    std::string line;
    char c;
    while (::read(from_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string address_;
};

// ---------------------------------------------------------------------------
// Clients.

struct Target {
  std::string address;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::filesystem::path
      certs;  // with TLS: ca.pem, bench-client.pem, bench-client-key.pem (for ghz)
};

std::shared_ptr<grpc::Channel> NewChannel(const Target& target) {
  // A channel per client so clients do not share one HTTP/2 connection.
  grpc::ChannelArguments args;
  args.SetInt("grpc.channel_id", static_cast<int>(random()));
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(target.address, target.credentials, args);
}

// Connected channels (TLS handshakes done) for `clients` clients, made before a
// figure's clock starts.
std::vector<std::shared_ptr<grpc::Channel>> Connect(const Target& target, int clients) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < clients; ++c) {
    channels.push_back(NewChannel(target));
    channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  return channels;
}

// Runs `body(client index, stop time)` on `clients` threads; sums their results.
Result RunClients(int clients, double seconds,
                  const std::function<Result(int, Clock::time_point)>& body) {
  Result total;
  std::mutex mu;
  const auto start = Clock::now();
  const Clock::time_point stop_at =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Result mine = body(c, stop_at);
      std::lock_guard lock(mu);
      total.Add(mine);
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return total;
}

// Each client calls `call` back to back until the time is up; `call` returns
// the records and bytes it moved, or records 0 on failure.
struct Moved {
  uint64_t records = 0;
  uint64_t bytes = 0;
};
template <typename MakeCall>
Result ClosedLoop(const Target& target, int clients, double seconds, MakeCall make_call) {
  const auto channels = Connect(target, clients);
  return RunClients(clients, seconds, [&](int c, Clock::time_point stop_at) {
    auto channel = channels[c];
    auto call = make_call(channel, c);
    Result mine;
    while (Clock::now() < stop_at) {
      const auto begin = Clock::now();
      const Moved moved = call();
      if (moved.records == 0) break;
      mine.latencies_ns.push_back(std::chrono::nanoseconds(Clock::now() - begin).count());
      ++mine.calls;
      mine.records += moved.records;
      mine.bytes += moved.bytes;
    }
    return mine;
  });
}

const grpc::internal::RpcMethod& HealthCheckMethod(const std::shared_ptr<grpc::Channel>& channel) {
  static thread_local std::unique_ptr<grpc::internal::RpcMethod> method;
  method = std::make_unique<grpc::internal::RpcMethod>(
      "/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC, channel);
  return *method;
}

Result Health(const Target& target, int clients, double seconds) {
  return ClosedLoop(target, clients, seconds, [](std::shared_ptr<grpc::Channel> channel, int) {
    const grpc::internal::RpcMethod& method = HealthCheckMethod(channel);
    return [channel, &method]() -> Moved {
      grpc::ClientContext context;
      grpc::Slice empty("");  // HealthCheckRequest{service: ""}: no bytes
      grpc::ByteBuffer request(&empty, 1);
      grpc::ByteBuffer response;
      const grpc::Status status =
          grpc::internal::BlockingUnaryCall(channel.get(), method, &context, request, &response);
      if (!status.ok()) std::fprintf(stderr, "health: %s\n", status.error_message().c_str());
      return status.ok() ? Moved{1, 0} : Moved{};
    };
  });
}

Result Produce(const Target& target, int clients, double seconds, size_t value_bytes) {
  return ClosedLoop(
      target, clients, seconds, [value_bytes](std::shared_ptr<grpc::Channel> channel, int c) {
        auto stub = std::shared_ptr<logpb::v1::Log::Stub>(logpb::v1::Log::NewStub(channel));
        auto request = std::make_shared<ProduceRequest>();
        request->mutable_record()->set_value(std::string(value_bytes, 'a' + c % 26));
        return [stub, request, value_bytes]() -> Moved {
          grpc::ClientContext context;
          ProduceResponse response;
          const grpc::Status status = stub->Produce(&context, *request, &response);
          if (!status.ok()) std::fprintf(stderr, "produce: %s\n", status.error_message().c_str());
          return status.ok() ? Moved{1, value_bytes} : Moved{};
        };
      });
}

Result Consume(const Target& target, int clients, double seconds, uint64_t end) {
  return ClosedLoop(target, clients, seconds, [end](std::shared_ptr<grpc::Channel> channel, int c) {
    auto stub = std::shared_ptr<logpb::v1::Log::Stub>(logpb::v1::Log::NewStub(channel));
    auto random = std::make_shared<std::mt19937_64>(c + 1);
    return [stub, random, end]() -> Moved {
      grpc::ClientContext context;
      ConsumeRequest request;
      request.set_offset((*random)() % end);
      ConsumeResponse response;
      if (!stub->Consume(&context, request, &response).ok()) return {};
      return Moved{1, response.record().value().size()};
    };
  });
}

Result ProduceBatch(const Target& target, int clients, double seconds, size_t value_bytes,
                    size_t batch_bytes) {
  const size_t count = std::max<size_t>(1, batch_bytes / value_bytes);
  return ClosedLoop(target, clients, seconds, [=](std::shared_ptr<grpc::Channel> channel, int c) {
    auto stub =
        std::shared_ptr<logpb::v1::Batch::StubInterface>(proglog::client::NewBatchStub(channel));
    auto value = std::make_shared<std::string>(value_bytes, 'a' + c % 26);
    auto views = std::make_shared<std::vector<std::string_view>>(count, *value);
    return [stub, value, views, value_bytes]() -> Moved {
      absl::StatusOr<uint64_t> base = proglog::client::ProduceBatch(*stub, *views);
      if (!base.ok()) {
        std::fprintf(stderr, "produce batch: %s\n", base.status().ToString().c_str());
        return {};
      }
      return Moved{views->size(), views->size() * value_bytes};
    };
  });
}

Result ConsumeBatch(const Target& target, int clients, double seconds, uint64_t end) {
  return ClosedLoop(target, clients, seconds, [end](std::shared_ptr<grpc::Channel> channel, int c) {
    auto stub =
        std::shared_ptr<logpb::v1::Batch::StubInterface>(proglog::client::NewBatchStub(channel));
    auto next = std::make_shared<uint64_t>((end / 16) * c % end);
    return [stub, next, end]() -> Moved {
      absl::StatusOr<proglog::client::ConsumedBatch> batch =
          proglog::client::ConsumeBatch(*stub, *next, 1 << 20, 0);
      if (!batch.ok()) return {};
      *next = batch->NextOffset() >= end ? 0 : batch->NextOffset();
      uint64_t bytes = 0;
      for (const std::string& value : batch->values) bytes += value.size();
      return Moved{batch->values.size(), bytes};
    };
  });
}

// Pipelined ProduceStream per client with up to 256 unanswered requests.
Result ProduceStreams(const Target& target, int clients, double seconds, size_t value_bytes) {
  constexpr int kWindow = 256;
  const auto channels = Connect(target, clients);
  return RunClients(clients, seconds, [&](int c, Clock::time_point stop_at) {
    auto stub = logpb::v1::Log::NewStub(channels[c]);
    grpc::ClientContext context;
    auto stream = stub->ProduceStream(&context);
    std::counting_semaphore<kWindow> window(kWindow);
    std::vector<Clock::time_point> sent(kWindow);
    std::atomic<uint64_t> written{0};
    ProduceRequest request;
    request.mutable_record()->set_value(std::string(value_bytes, 'a' + c % 26));
    std::thread writer([&] {
      while (Clock::now() < stop_at) {
        window.acquire();
        sent[written.load() % kWindow] = Clock::now();
        if (!stream->Write(request)) break;
        written.fetch_add(1);
      }
      stream->WritesDone();
    });
    Result mine;
    ProduceResponse response;
    while (stream->Read(&response)) {
      mine.latencies_ns.push_back(
          std::chrono::nanoseconds(Clock::now() - sent[mine.records % kWindow]).count());
      ++mine.records;
      window.release();
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) std::fprintf(stderr, "produce stream: %s\n", status.error_message().c_str());
    mine.calls = mine.records;
    mine.bytes = mine.records * value_bytes;
    return mine;
  });
}

// Every client streams from offset 0 until the time is up.
// Reads the log from offset 0 to `end` on one stream per client, and again from
// 0 while time is left, so that a stream never waits at the tail.
Result ConsumeStreams(const Target& target, int clients, double seconds, uint64_t end) {
  const auto channels = Connect(target, clients);
  return RunClients(clients, seconds, [&](int c, Clock::time_point stop_at) {
    auto stub = logpb::v1::Log::NewStub(channels[c]);
    Result mine;
    while (Clock::now() < stop_at) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + (stop_at - Clock::now()));
      auto stream = stub->ConsumeStream(&context, ConsumeRequest());
      ConsumeResponse response;
      bool read_to_end = false;
      while (Clock::now() < stop_at && stream->Read(&response)) {
        ++mine.records;
        mine.bytes += response.record().value().size();
        if (response.record().offset() + 1 >= end) {
          read_to_end = true;
          break;
        }
      }
      context.TryCancel();
      static_cast<void>(stream->Finish());
      if (!read_to_end) break;
    }
    mine.calls = mine.records;
    return mine;
  });
}

// ConsumeStreams through log.v1.Batch/ConsumeBatchStream, up to 1 MiB per message.
Result ConsumeBatchStreams(const Target& target, int clients, double seconds, uint64_t end) {
  const auto channels = Connect(target, clients);
  return RunClients(clients, seconds, [&](int c, Clock::time_point stop_at) {
    auto stub = proglog::client::NewBatchStub(channels[c]);
    Result mine;
    while (Clock::now() < stop_at) {
      proglog::client::BatchStreamReader reader(
          *stub, 0, 1 << 20, 0,
          absl::FromChrono(std::chrono::system_clock::now() + (stop_at - Clock::now())));
      bool read_to_end = false;
      while (!read_to_end && Clock::now() < stop_at) {
        auto batch = reader.Next();
        if (!batch.ok() || !batch->has_value()) break;
        ++mine.calls;
        mine.records += (*batch)->values.size();
        for (const std::string& value : (*batch)->values) mine.bytes += value.size();
        read_to_end = (*batch)->NextOffset() >= end;
      }
      reader.Cancel();
      if (!read_to_end) break;
    }
    return mine;
  });
}

// ---------------------------------------------------------------------------
// The run.

// ---------------------------------------------------------------------------
// ghz, the external generator.

// Runs `argv` and returns what it wrote to stdout (stderr passes through).
std::optional<std::string> Output(std::vector<std::string> argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  char buffer[1 << 16];
  for (ssize_t n; rc == 0 && (n = ::read(out[0], buffer, sizeof(buffer))) > 0;)
    text.append(buffer, n);
  ::close(out[0]);
  int status = 0;
  if (rc != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s: %s\n", argv[0].c_str(),
                 rc != 0 ? std::strerror(rc) : "did not exit cleanly");
    return std::nullopt;
  }
  return text;
}

// `call` (package.Service.Method, found by server reflection) with the JSON
// request `data` from ghz: `clients` workers, one connection each, for
// `seconds`. Only calls answered OK count; ghz cuts the calls in flight when
// the time is up, and those fail.
Result Ghz(const std::string& ghz, const Target& target, const std::string& call,
           const std::string& data, int clients, double seconds) {
  std::vector<std::string> argv = {ghz,
                                   "--call",
                                   call,
                                   "--data",
                                   data,
                                   "--concurrency",
                                   std::to_string(clients),
                                   "--connections",
                                   std::to_string(clients),
                                   "--duration",
                                   absl::StrCat(static_cast<int64_t>(seconds * 1000), "ms"),
                                   "--format",
                                   "json"};
  if (target.certs.empty()) {
    argv.emplace_back("--insecure");
  } else {
    for (const auto& [flag, file] : {std::pair{"--cacert", "ca.pem"},
                                     {"--cert", "bench-client.pem"},
                                     {"--key", "bench-client-key.pem"}}) {
      argv.insert(argv.end(), {flag, (target.certs / file).string()});
    }
    argv.insert(argv.end(), {"--cname", "localhost"});
  }
  argv.push_back(target.address);
  Result result;
  const std::optional<std::string> output = Output(argv);
  if (!output) return result;
  const nlohmann::json report = nlohmann::json::parse(*output, nullptr, false);
  if (report.is_discarded() || !report.contains("details")) {
    std::fprintf(stderr, "ghz: no report with details in its output\n");
    return result;
  }
  for (const auto& detail : report["details"]) {
    if (detail.value("status", "") != "OK") continue;
    ++result.calls;
    result.latencies_ns.push_back(detail.value("latency", int64_t{0}));
  }
  result.records = result.calls;
  result.seconds = report.value("total", int64_t{0}) / 1e9;
  return result;
}

// A JSON ProduceRequest with a value of `value_bytes` (bytes are base64 in JSON).
std::string ProduceJson(size_t value_bytes) {
  return absl::StrCat(R"({"record":{"value":")", absl::Base64Escape(std::string(value_bytes, 'g')),
                      R"("}})");
}

struct FigureContext {
  std::string transport;
  std::string fsync;
  size_t value_bytes;
  double loopback_mbps;  // 0: not measured
};

void Print(const FigureContext& where, const std::string& workload, int clients, Result& result,
           double cpu_seconds, std::pair<double, double> fsyncs, double health_rate) {
  const double rate = result.records / result.seconds;
  std::printf("  %-15s %-5s fsync=%-6s %5zuB c=%-3d %10.0f rec/s %8.1f MB/s", workload.c_str(),
              where.transport.c_str(), where.fsync.c_str(), where.value_bytes, clients, rate,
              result.bytes / result.seconds / 1e6);
  if (!result.latencies_ns.empty()) {
    std::printf("  p50 %7.1f us p99 %7.1f us", Percentile(result.latencies_ns, 0.50),
                Percentile(result.latencies_ns, 0.99));
  }
  if (result.records > 0) std::printf("  cpu %6.2f us/rec", cpu_seconds * 1e6 / result.records);
  if (fsyncs.second > 0) std::printf("  %.1f rec/fsync", fsyncs.first / fsyncs.second);
  if (health_rate > 0 && result.calls == result.records &&
      workload.find("health") == std::string::npos) {
    std::printf("  (%.2fx health)", rate / health_rate);
  }
  const bool streams_or_batches =
      workload == "consume-stream" || workload == "consume-batch" || workload == "cbatch-stream";
  if (where.loopback_mbps > 0 && streams_or_batches) {
    std::printf("  (%.3fx loopback)", result.bytes / result.seconds / 1e6 / where.loopback_mbps);
  }
  std::printf("\n");
  std::fflush(stdout);
}

bool Has(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

void RunNode(const Flags& flags, const ServeSpec& spec, const Target& base, size_t value_bytes,
             double loopback_mbps) {
  ServerProcess server(spec);
  if (server.Address().empty()) {
    std::printf("  node did not start\n");
    return;
  }
  Target target = base;
  target.address = server.Address();
  const FigureContext where{spec.tls ? "tls" : "plain", spec.fsync, value_bytes, loopback_mbps};
  const bool always = spec.fsync == "always";
  uint64_t produced = 0;
  // Each generator's own health ceiling, per client count.
  std::map<std::string, std::vector<double>> health_rates = {
      {"", std::vector<double>(flags.clients.size(), 0)},
      {"ghz-", std::vector<double>(flags.clients.size(), 0)}};
  auto figure = [&](const std::string& workload, size_t client_index,
                    const std::function<Result(int)>& run) {
    if (!Has(flags.workloads, workload)) return;
    const int clients = flags.clients[client_index];
    const std::string generator = workload.rfind("ghz-", 0) == 0 ? "ghz-" : "";
    const std::string kind = workload.substr(generator.size());
    const bool produces = kind.rfind("produce", 0) == 0;
    const auto fsyncs_before = server.Fsyncs();
    const double cpu_before = server.CpuSeconds();
    Result result = run(clients);
    const double cpu = server.CpuSeconds() - cpu_before;
    std::pair<double, double> fsyncs{0, 0};
    if (produces && always) {
      const auto after = server.Fsyncs();
      fsyncs = {after.first - fsyncs_before.first, after.second - fsyncs_before.second};
    }
    if (produces) produced += result.records;
    if (kind == "health" && result.seconds > 0) {
      health_rates[generator][client_index] = result.records / result.seconds;
    }
    Print(where, workload, clients, result, cpu, fsyncs, health_rates[generator][client_index]);
  };
  const double s = flags.seconds;
  for (size_t i = 0; i < flags.clients.size(); ++i) {
    figure("health", i, [&](int c) { return Health(target, c, s); });
    figure("produce", i, [&](int c) { return Produce(target, c, s, value_bytes); });
    figure("produce-stream", i, [&](int c) { return ProduceStreams(target, c, s, value_bytes); });
    figure("produce-batch", i,
           [&](int c) { return ProduceBatch(target, c, s, value_bytes, flags.batch_bytes); });
    if (flags.ghz.empty()) continue;
    figure("ghz-health", i, [&](int c) {
      return Ghz(flags.ghz, target, "grpc.health.v1.Health.Check", "{}", c, s);
    });
    figure("ghz-produce", i, [&](int c) {
      Result r = Ghz(flags.ghz, target, "log.v1.Log.Produce", ProduceJson(value_bytes), c, s);
      r.bytes = r.records * value_bytes;
      return r;
    });
  }
  if (produced == 0) {
    Result seed = ProduceBatch(target, 1, s, value_bytes, flags.batch_bytes);
    produced = seed.records;
  }
  for (size_t i = 0; i < flags.clients.size(); ++i) {
    figure("consume", i, [&](int c) { return Consume(target, c, s, produced); });
    figure("consume-stream", i, [&](int c) { return ConsumeStreams(target, c, s, produced); });
    figure("consume-batch", i, [&](int c) { return ConsumeBatch(target, c, s, produced); });
    figure("cbatch-stream", i, [&](int c) { return ConsumeBatchStreams(target, c, s, produced); });
  }
}

// VmRSS of `pid` in kB, from /proc/<pid>/status.
long ReadRssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// A fresh plaintext node: its RSS, and its CPU while 16 ConsumeStreams wait at
// the end of the log (tailing waits on a notification, so near zero).
void MeasureIdleNode(const std::filesystem::path& dir) {
  ServerProcess server(ServeSpec{dir, "never", false, "local", ""});
  if (server.Address().empty()) return;
  std::printf("idle node: RSS %.1f MB fresh\n", ReadRssKb(server.Pid()) / 1024.0);
  constexpr int kStreams = 16;
  const Target target{server.Address(), grpc::InsecureChannelCredentials()};
  std::vector<std::unique_ptr<logpb::v1::Log::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<ConsumeResponse>>> streams;
  for (int i = 0; i < kStreams; ++i) {
    stubs.push_back(logpb::v1::Log::NewStub(NewChannel(target)));
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stubs.back()->ConsumeStream(contexts.back().get(), ConsumeRequest()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double before = server.CpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::printf("idle node: CPU %.1f ms per second while %d ConsumeStreams wait at the end\n",
              (server.CpuSeconds() - before) * 1e3, kStreams);
  for (int i = 0; i < kStreams; ++i) {
    contexts[i]->TryCancel();
    static_cast<void>(streams[i]->Finish());
  }
}

// Makes a CA, a server certificate, a client certificate (CN "bench") and an
// ACL letting "bench" produce and consume, in `dir`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeTls(
    const std::filesystem::path& dir) {
  namespace sec = proglog::security;
  std::filesystem::create_directories(dir);
  sec::CaOptions ca;
  ca.out_dir = dir;
  if (auto made = sec::CreateCertificateAuthority(ca); !made.ok()) return made.status();
  sec::IssueOptions server;
  server.role = sec::TlsRole::kServer;
  server.common_name = "localhost";
  server.out_dir = dir;
  if (auto made = sec::IssueCertificate(server); !made.ok()) return made.status();
  sec::IssueOptions client;
  client.role = sec::TlsRole::kClient;
  client.common_name = "bench";
  client.out_dir = dir;
  absl::StatusOr<sec::CertificateFiles> client_files = sec::IssueCertificate(client);
  if (!client_files.ok()) return client_files.status();
  std::ofstream(dir / "model.conf") << "[request_definition]\nr = sub, obj, act\n\n"
                                       "[policy_definition]\np = sub, obj, act\n\n"
                                       "[policy_effect]\ne = some(where (p.eft == allow))\n\n"
                                       "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && "
                                       "r.act == p.act\n";
  std::ofstream(dir / "policy.csv") << "p, bench, *, produce\np, bench, *, consume\n";
  absl::StatusOr<sec::TlsConfig> config = sec::TlsConfig::Load(
      sec::TlsRole::kClient,
      sec::TlsFiles{client_files->cert_file, client_files->key_file, dir / "ca.pem"});
  if (!config.ok()) return config.status();
  return sec::GrpcChannelCredentials(*config);
}

// Disk limits of the bench directory: 4 KiB writes each followed by fdatasync.
void MeasureFdatasync(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "disk-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const std::string chunk(4096, 'd');
  const auto start = Clock::now();
  int syncs = 0;
  while (Clock::now() - start < std::chrono::milliseconds(500)) {
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) break;
    ::fdatasync(fd);
    ++syncs;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::filesystem::remove(path);
  std::printf("disk (%s): 4 KiB write + fdatasync %.0f us each (%.0f/s)\n", dir.c_str(),
              seconds * 1e6 / syncs, syncs / seconds);
}

// Loopback TCP bandwidth, the reference for the consume figures: one
// connection, 1 MiB writes for half a second, counted by the reading thread.
// Returns MB/s, 0 if a socket call failed.
double MeasureLoopback() {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener >= 0) ::close(listener);
    return 0;
  }
  std::atomic<uint64_t> received{0};
  std::thread reader([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    std::vector<char> buffer(1 << 20);
    for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) received += n;
    ::close(fd);
  });
  const int writer = ::socket(AF_INET, SOCK_STREAM, 0);
  const auto start = Clock::now();
  if (writer >= 0 && ::connect(writer, reinterpret_cast<sockaddr*>(&address), length) == 0) {
    const std::string chunk(1 << 20, 'l');
    while (Clock::now() - start < std::chrono::milliseconds(500)) {
      if (::write(writer, chunk.data(), chunk.size()) <= 0) break;
    }
  }
  if (writer >= 0) ::close(writer);
  ::shutdown(listener, SHUT_RDWR);  // ends an accept that never got its connection
  reader.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(listener);
  const double mbps = received / seconds / 1e6;
  std::printf("loopback TCP: %.0f MB/s (one connection, 1 MiB writes)\n", mbps);
  return mbps;
}

template <typename T, typename Parse>
bool ParseList(const std::string& text, std::vector<T>* out, Parse parse) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    T value;
    if (!parse(std::string(part), &value)) return false;
    out->push_back(value);
  }
  return !out->empty();
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string v;
    auto value = [&]() {
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        v = arg.substr(eq + 1);
        return true;
      }
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    const std::string name = arg.substr(0, arg.find('='));
    if (!value()) return false;
    auto size = [](const std::string& s, size_t* out) {
      return absl::SimpleAtoi(s, out) && *out > 0;
    };
    bool ok = true;
    if (name == "--seconds") {
      ok = absl::SimpleAtod(v, &flags->seconds) && flags->seconds > 0;
    } else if (name == "--value-bytes") {
      ok = ParseList(v, &flags->value_bytes, size);
    } else if (name == "--clients") {
      ok = ParseList(v, &flags->clients, [](const std::string& s, int* out) {
        return absl::SimpleAtoi(s, out) && *out > 0;
      });
    } else if (name == "--fsync") {
      ok = ParseList(v, &flags->fsync, [](const std::string& s, std::string* out) {
        *out = s;
        return proglog::log::Durability::Parse(s).ok();
      });
    } else if (name == "--tls") {
      ok = ParseList(v, &flags->tls, [](const std::string& s, bool* out) {
        *out = s == "on";
        return s == "on" || s == "off";
      });
    } else if (name == "--mode") {
      flags->mode = v;
      ok = v == "raft" || v == "local";
    } else if (name == "--workloads") {
      ok = ParseList(v, &flags->workloads, [](const std::string& s, std::string* out) {
        *out = s;
        return Has(Flags().workloads, s) || s == "ghz-health" || s == "ghz-produce";
      });
    } else if (name == "--batch-bytes") {
      ok = size(v, &flags->batch_bytes);
    } else if (name == "--dir") {
      flags->dir = v;
    } else if (name == "--ghz") {
      flags->ghz = v;
      ok = ::access(v.c_str(), X_OK) == 0;
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // As the proglog binary does (server/main.cc): the node in the child runs
  // without abseil's mutex deadlock detection.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc == 7 && std::strcmp(argv[1], "--serve") == 0) {
    proglog::node::TuneAllocatorForServing();  // as the binary's node process does
    return Serve(ServeSpec{argv[2], argv[3], std::strcmp(argv[4], "tls") == 0, argv[5], argv[6]});
  }
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: proglog-bench-server [--seconds S] [--value-bytes 100,1024] "
                 "[--clients 1,16] [--fsync always,never,interval:MS] [--tls off,on] "
                 "[--mode raft|local] [--workloads health,produce,produce-stream,produce-batch,"
                 "consume,consume-stream,consume-batch,cbatch-stream,ghz-health,ghz-produce] "
                 "[--batch-bytes B] [--dir D] [--ghz PATH (an executable ghz)]\n");
    return 2;
  }
  // With ghz, its workloads run too unless --workloads named the ones to run.
  if (!flags.ghz.empty() && flags.workloads == Flags().workloads) {
    flags.workloads.insert(flags.workloads.end(), {"ghz-health", "ghz-produce"});
  }
  bool own_dir = false;
  if (flags.dir.empty()) {
    char dir_template[] = "/tmp/proglog-bench-server-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return 1;
    flags.dir = dir_template;
    own_dir = true;
  }
  std::filesystem::create_directories(flags.dir);
  MeasureFdatasync(flags.dir);
  const double loopback_mbps = MeasureLoopback();
  std::printf(
      "mode %s, %.2f s per figure, produce-batch %zu B of values per call; node in a "
      "child process, clients here, over 127.0.0.1; %u cores\n",
      flags.mode.c_str(), flags.seconds, flags.batch_bytes, std::thread::hardware_concurrency());
  std::shared_ptr<grpc::ChannelCredentials> tls_credentials;
  if (std::find(flags.tls.begin(), flags.tls.end(), true) != flags.tls.end()) {
    auto credentials = MakeTls(flags.dir / "certs");
    if (!credentials.ok()) {
      std::fprintf(stderr, "certificates: %s\n", credentials.status().ToString().c_str());
      return 1;
    }
    tls_credentials = *credentials;
  }
  int run = 0;
  for (bool tls : flags.tls) {
    for (const std::string& fsync : flags.fsync) {
      for (size_t value_bytes : flags.value_bytes) {
        ServeSpec spec{flags.dir / absl::StrCat("node-", run++), fsync, tls, flags.mode,
                       flags.dir / "certs"};
        Target target{"", tls ? tls_credentials : grpc::InsecureChannelCredentials(),
                      tls ? flags.dir / "certs" : std::filesystem::path()};
        RunNode(flags, spec, target, value_bytes, loopback_mbps);
        std::filesystem::remove_all(spec.data_dir);
      }
    }
  }
  MeasureIdleNode(flags.dir / "idle-node");
  if (own_dir) std::filesystem::remove_all(flags.dir);
  return 0;
}
