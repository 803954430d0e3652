// proglog-bench-server: the gRPC server under load over loopback.
//
// For each durability policy, and with 1, 4 and 16 concurrent clients, it prints
// throughput (records/s, MB/s) and p50/p99 latency of:
//   produce-stream  pipelined ProduceStream (window of in-flight requests per stream)
//   produce-unary   one Produce at a time per client (closed loop)
//   consume-stream  ConsumeStream from offset 0 (each stream reads the whole log)
//   consume-unary   one Consume at a time per client, random offsets
// Beside the produce figures it prints the disk's own limits measured in the same
// run (sequential write bandwidth, and bandwidth of 1 MiB writes each followed by
// fdatasync), and at the end the resident memory of an idle node in a child process.
//
// Usage: proglog-bench-server [--seconds S] [--value-bytes B] [--fsync always,never]
//                             [--dir D]
// The node runs in this process (server and client share the machine's cores).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/node/node.h"
#include "log/v1/log.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using logpb::v1::ConsumeRequest;
using logpb::v1::ConsumeResponse;
using logpb::v1::ProduceRequest;
using logpb::v1::ProduceResponse;

struct Flags {
  double seconds = 2.0;
  size_t value_bytes = 1024;
  std::vector<std::string> fsync = {"always", "never"};
  std::filesystem::path dir;
};

struct Result {
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::vector<int64_t> latencies_ns;
};

double Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k] / 1e3;  // microseconds
}

void Print(const std::string& name, int clients, Result& result, double limit_mb_s) {
  const double mb_s = result.bytes / result.seconds / 1e6;
  std::printf("  %-15s clients=%-3d %10.0f rec/s %9.1f MB/s", name.c_str(), clients,
              result.records / result.seconds, mb_s);
  if (!result.latencies_ns.empty()) {
    const double p50 = Percentile(result.latencies_ns, 0.50);
    const double p99 = Percentile(result.latencies_ns, 0.99);
    std::printf("  p50 %8.1f us  p99 %8.1f us", p50, p99);
  }
  if (limit_mb_s > 0) std::printf("  (%.2fx disk limit)", mb_s / limit_mb_s);
  std::printf("\n");
  std::fflush(stdout);
}

std::unique_ptr<logpb::v1::Log::Stub> Stub(const std::string& address) {
  // A channel per client so streams do not share one HTTP/2 connection.
  grpc::ChannelArguments args;
  args.SetInt("grpc.channel_id", static_cast<int>(random()));
  args.SetMaxReceiveMessageSize(64 << 20);
  return logpb::v1::Log::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

// Pipelined ProduceStream per client with up to `window` unanswered requests.
Result ProduceStreams(const std::string& address, int clients, const Flags& flags) {
  constexpr int kWindow = 256;
  Result total;
  std::mutex mu;
  const auto stop_at = Clock::now() + std::chrono::duration<double>(flags.seconds);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = Stub(address);
      grpc::ClientContext context;
      auto stream = stub->ProduceStream(&context);
      std::counting_semaphore<kWindow> window(kWindow);
      std::vector<Clock::time_point> sent(kWindow);
      std::atomic<uint64_t> written{0};
      ProduceRequest request;
      request.mutable_record()->set_value(std::string(flags.value_bytes, 'a' + c % 26));
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
      grpc::Status status = stream->Finish();
      if (!status.ok())
        std::fprintf(stderr, "produce stream: %s\n", status.error_message().c_str());
      std::lock_guard lock(mu);
      total.records += mine.records;
      total.latencies_ns.insert(total.latencies_ns.end(), mine.latencies_ns.begin(),
                                mine.latencies_ns.end());
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  total.bytes = total.records * flags.value_bytes;
  return total;
}

// Each client runs `call` back to back until the time is up; `call` returns the
// bytes it moved (0 on failure).
template <typename Call>
Result ClosedLoop(const std::string& address, int clients, const Flags& flags, Call call) {
  Result total;
  std::mutex mu;
  const auto stop_at = Clock::now() + std::chrono::duration<double>(flags.seconds);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = Stub(address);
      std::mt19937_64 random(c + 1);
      Result mine;
      while (Clock::now() < stop_at) {
        const auto begin = Clock::now();
        const uint64_t bytes = call(*stub, random);
        if (bytes == 0) break;
        mine.latencies_ns.push_back(std::chrono::nanoseconds(Clock::now() - begin).count());
        ++mine.records;
        mine.bytes += bytes;
      }
      std::lock_guard lock(mu);
      total.records += mine.records;
      total.bytes += mine.bytes;
      total.latencies_ns.insert(total.latencies_ns.end(), mine.latencies_ns.begin(),
                                mine.latencies_ns.end());
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return total;
}

// Every client streams the log from offset 0 up to `count` records.
Result ConsumeStreams(const std::string& address, int clients, uint64_t count) {
  Result total;
  std::atomic<uint64_t> records{0}, bytes{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto stub = Stub(address);
      grpc::ClientContext context;
      auto stream = stub->ConsumeStream(&context, ConsumeRequest());
      ConsumeResponse response;
      uint64_t got = 0;
      while (got < count && stream->Read(&response)) {
        ++got;
        bytes.fetch_add(response.record().value().size());
      }
      records.fetch_add(got);
      context.TryCancel();
      stream->Finish();
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  total.records = records.load();
  total.bytes = bytes.load();
  return total;
}

// CPU the whole process spends while 16 ConsumeStreams wait at the end of the
// log: tailing waits on a notification, so this should be near zero.
void MeasureTailingCpu(const std::string& address, uint64_t end) {
  constexpr int kStreams = 16;
  std::vector<std::unique_ptr<logpb::v1::Log::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<ConsumeResponse>>> streams;
  for (int i = 0; i < kStreams; ++i) {
    stubs.push_back(Stub(address));
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    ConsumeRequest request;
    request.set_offset(end);
    streams.push_back(stubs.back()->ConsumeStream(contexts.back().get(), request));
  }
  // Give the streams time to reach their wait, then measure an interval.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto cpu = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec * 1e3 + usage.ru_utime.tv_usec / 1e3 +
           usage.ru_stime.tv_sec * 1e3 + usage.ru_stime.tv_usec / 1e3;
  };
  const double before = cpu();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double used = cpu() - before;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("  tailing-idle    clients=%-3d process CPU %.1f ms per second while caught up\n",
              kStreams, used / seconds);
  for (int i = 0; i < kStreams; ++i) {
    contexts[i]->TryCancel();
    streams[i]->Finish();
  }
}

// Disk limits of the bench directory, measured for about `seconds` each.
struct DiskLimits {
  double sequential_mb_s = 0;
  double batched_fdatasync_mb_s = 0;
};

DiskLimits MeasureDisk(const std::filesystem::path& dir, double seconds) {
  DiskLimits limits;
  const std::string chunk(1 << 20, 'd');
  for (int mode = 0; mode < 2; ++mode) {
    const std::filesystem::path path = dir / "disk-probe";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return limits;
    const auto start = Clock::now();
    const auto stop_at = start + std::chrono::duration<double>(seconds);
    uint64_t written = 0;
    while (Clock::now() < stop_at && written < (4ull << 30)) {
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) break;
      written += chunk.size();
      if (mode == 1) ::fdatasync(fd);
    }
    ::fdatasync(fd);  // Sequential bandwidth counts reaching the disk too.
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    ::close(fd);
    std::filesystem::remove(path);
    (mode == 0 ? limits.sequential_mb_s : limits.batched_fdatasync_mb_s) = written / elapsed / 1e6;
  }
  return limits;
}

// Child mode: open a node, print its address, wait for stdin to close.
int RunIdleNode(const std::filesystem::path& dir) {
  proglog::node::Config config;
  config.data_dir = dir;
  config.node_name = "idle";
  auto node = proglog::node::Node::Open(config);
  if (!node.ok()) {
    std::fprintf(stderr, "idle node: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", (*node)->RpcAddress().c_str());
  std::fflush(stdout);
  char buffer[64];
  while (::read(STDIN_FILENO, buffer, sizeof(buffer)) > 0) {
  }
  return (*node)->Close().ok() ? 0 : 1;
}

// VmRSS and its anonymous/file-backed parts, in kB, from /proc/<pid>/status.
struct Rss {
  long total = -1, anon = -1, file = -1;
  std::string ToString() const {
    char text[96];
    std::snprintf(text, sizeof(text), "%.1f MB (anon %.1f, file %.1f)", total / 1024.0,
                  anon / 1024.0, file / 1024.0);
    return text;
  }
};

Rss ReadRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  Rss rss;
  auto field = [&](const char* name, long* out) {
    if (line.rfind(name, 0) == 0) *out = std::strtol(line.c_str() + std::strlen(name), nullptr, 10);
  };
  while (std::getline(status, line)) {
    field("VmRSS:", &rss.total);
    field("RssAnon:", &rss.anon);
    field("RssFile:", &rss.file);
  }
  return rss;
}

// Starts this binary as an idle node, reports its RSS fresh and after a burst of
// produces, then stops it.
void MeasureIdleRss(const std::filesystem::path& dir) {
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::close(to_child[1]);
    ::close(from_child[0]);
    const std::string dir_arg = dir.string();
    ::execl("/proc/self/exe", "proglog-bench-server", "--idle-node", dir_arg.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  std::string address;
  char c;
  while (::read(from_child[0], &c, 1) == 1 && c != '\n') address.push_back(c);
  if (!address.empty()) {
    const Rss fresh = ReadRss(pid);
    Flags burst;
    burst.seconds = 1.0;
    Result produced = ProduceStreams(address, 4, burst);
    // Let the node settle: wait for in-flight work to drain by checking that a
    // unary round trip completes, then read RSS.
    auto stub = Stub(address);
    grpc::ClientContext context;
    ConsumeRequest request;
    ConsumeResponse response;
    stub->Consume(&context, request, &response);
    const Rss after = ReadRss(pid);
    std::printf("idle node RSS: %s fresh; %s after %llu produced records (target <= 20 MB)\n",
                fresh.ToString().c_str(), after.ToString().c_str(),
                static_cast<unsigned long long>(produced.records));
  } else {
    std::printf("idle node did not start\n");
  }
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(from_child[0]);
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        *out = arg.substr(eq + 1);
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg.rfind("--seconds", 0) == 0) {
      if (!value(&v) || !absl::SimpleAtod(v, &flags->seconds) || flags->seconds <= 0) return false;
    } else if (arg.rfind("--value-bytes", 0) == 0) {
      if (!value(&v) || !absl::SimpleAtoi(v, &flags->value_bytes) || flags->value_bytes == 0) {
        return false;
      }
    } else if (arg.rfind("--fsync", 0) == 0) {
      if (!value(&v)) return false;
      flags->fsync = absl::StrSplit(v, ',');
    } else if (arg.rfind("--dir", 0) == 0) {
      if (!value(&v)) return false;
      flags->dir = v;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--idle-node") == 0) return RunIdleNode(argv[2]);
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: proglog-bench-server [--seconds S] [--value-bytes B] "
                 "[--fsync always,never,interval:MS] [--dir D]\n");
    return 2;
  }
  bool own_dir = false;
  if (flags.dir.empty()) {
    char dir_template[] = "/tmp/proglog-bench-server-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return 1;
    flags.dir = dir_template;
    own_dir = true;
  }
  std::filesystem::create_directories(flags.dir);
  const DiskLimits disk = MeasureDisk(flags.dir, 1.0);
  std::printf("disk (%s): sequential write %.1f MB/s, 1 MiB writes + fdatasync %.1f MB/s\n",
              flags.dir.c_str(), disk.sequential_mb_s, disk.batched_fdatasync_mb_s);
  std::printf("values %zu B, %.1f s per figure, node in this process over 127.0.0.1\n",
              flags.value_bytes, flags.seconds);

  for (const std::string& policy : flags.fsync) {
    absl::StatusOr<proglog::log::Durability> durability = proglog::log::Durability::Parse(policy);
    if (!durability.ok()) {
      std::fprintf(stderr, "%s\n", durability.status().ToString().c_str());
      return 2;
    }
    const std::filesystem::path data = flags.dir / ("node-" + std::to_string(::getpid()) + policy);
    proglog::node::Config config;
    config.data_dir = data;
    config.node_name = "bench";
    config.log.durability = *durability;
    auto node = proglog::node::Node::Open(config);
    if (!node.ok()) {
      std::fprintf(stderr, "open node: %s\n", node.status().ToString().c_str());
      return 1;
    }
    const std::string address = (*node)->RpcAddress();
    const double limit = durability->mode == proglog::log::Durability::Mode::kAlways
                             ? disk.batched_fdatasync_mb_s
                             : disk.sequential_mb_s;
    std::printf("--fsync=%s\n", policy.c_str());
    const std::string value(flags.value_bytes, 'u');
    uint64_t produced = 0;
    for (int clients : {1, 4, 16}) {
      Result r = ProduceStreams(address, clients, flags);
      produced += r.records;
      Print("produce-stream", clients, r, limit);
    }
    for (int clients : {1, 4, 16}) {
      Result r = ClosedLoop(
          address, clients, flags, [&](logpb::v1::Log::Stub& stub, std::mt19937_64&) -> uint64_t {
            grpc::ClientContext context;
            ProduceRequest request;
            request.mutable_record()->set_value(value);
            ProduceResponse response;
            return stub.Produce(&context, request, &response).ok() ? value.size() : 0;
          });
      produced += r.records;
      Print("produce-unary", clients, r, limit);
    }
    // Stream at most ~4 s of reading per figure at the rate seen with one stream.
    uint64_t stream_count = std::min<uint64_t>(produced, 200000);
    for (int clients : {1, 4, 16}) {
      Result r = ConsumeStreams(address, clients, std::max<uint64_t>(1, stream_count / clients));
      Print("consume-stream", clients, r, 0);
    }
    for (int clients : {1, 4, 16}) {
      Result r = ClosedLoop(address, clients, flags,
                            [&](logpb::v1::Log::Stub& stub, std::mt19937_64& random) -> uint64_t {
                              grpc::ClientContext context;
                              ConsumeRequest request;
                              request.set_offset(random() % produced);
                              ConsumeResponse response;
                              if (!stub.Consume(&context, request, &response).ok()) return 0;
                              return response.record().value().size();
                            });
      Print("consume-unary", clients, r, 0);
    }
    MeasureTailingCpu(address, produced);
    (void)(*node)->Close();
    std::filesystem::remove_all(data);
  }
  MeasureIdleRss(flags.dir / "idle-node");
  if (own_dir) std::filesystem::remove_all(flags.dir);
  return 0;
}
