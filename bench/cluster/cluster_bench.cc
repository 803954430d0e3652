// proglog-bench-cluster: three real `proglog` processes on loopback, Raft-replicated,
// every node with --fsync=always. It prints figures, it asserts nothing.
//
//   floor       in the same run: p50 of small write + fdatasync in the data dir, and
//               p50 of a 64-byte TCP ping-pong over 127.0.0.1. A replicated produce
//               cannot commit faster than about fdatasync + one round trip.
//   throughput  replicated unary Produce (1 and 16 closed-loop clients) and pipelined
//               ProduceStream (16 streams), per value size, against the leader of a
//               3-node cluster and against a bootstrapped 1-node cluster: records/s,
//               p50/p99 latency, and the 3-node/1-node ratio.
//   failover    time from kill -9 (or SIGTERM, which hands leadership over) of the
//               leader to the first produce a survivor acknowledges. A client retries
//               Produce on the survivors, following the `proglog-leader` trailing
//               metadata of UNAVAILABLE refusals, else trying each survivor in turn.
//               The stopped node is restarted on its data dir and ports and the bench
//               waits for 3 voting members and one leader before the next round.
//               Per election-timeout setting ("150ms", "default" = the node's own).
//   interleaved with --interleave OTHER: one client's produce latency on a 1-node and a
//               3-node cluster of each binary, all four up at once and produced to in
//               turn, so both binaries meet the same machine load (see RunInterleaved).
//
// Usage: proglog-bench-cluster [--proglog PATH] [--dir D] [--seconds S]
//          [--value-bytes 100,1024] [--kills N] [--failover-seconds S]
//          [--election-timeouts 150ms,default] [--skip-throughput] [--skip-failover]
//          [--skip-client] [--client-rounds N]
//          [--keep-dir] [--verbose] [--interleave OTHER_BINARY] [--interleave-rounds N]
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/client/client.h"
#include "log/v1/log.grpc.pb.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using logpb::v1::ConsumeRequest;
using logpb::v1::ConsumeResponse;
using logpb::v1::GetServersRequest;
using logpb::v1::GetServersResponse;
using logpb::v1::ProduceRequest;
using logpb::v1::ProduceResponse;

#ifndef PROGLOG_BENCH_DEFAULT_BINARY
#define PROGLOG_BENCH_DEFAULT_BINARY "server/proglog"
#endif

constexpr const char* kLeaderKey = "proglog-leader";

struct Flags {
  std::string proglog = PROGLOG_BENCH_DEFAULT_BINARY;
  std::filesystem::path dir;
  double seconds = 2.0;
  std::vector<size_t> value_bytes = {100, 1024};
  int kills = 20;
  double failover_seconds = 160;  // all failover sections together
  std::vector<std::string> election_timeouts = {"150ms", "default"};
  bool throughput = true;
  bool failover = true;
  bool client = true;
  int client_rounds = 3;
  bool keep_dir = false;
  bool verbose = false;
  std::string interleave;  // a second binary for the interleaved comparison; empty: none
  int interleave_rounds = 3000;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

// The value of "key":"..." in one JSON log line (the node's own flat format).
std::optional<std::string> JsonField(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  size_t at = line.find(needle);
  if (at == std::string::npos) return std::nullopt;
  std::string out;
  for (size_t i = at + needle.size(); i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      out.push_back(line[++i]);
    } else if (line[i] == '"') {
      return out;
    } else {
      out.push_back(line[i]);
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- physical floor

// p50 and p99 of `count` 4 KiB write + fdatasync in `dir`, in ms. `preallocated`
// writes into a region reserved with fallocate first (as the log's store does), so
// fdatasync has no file size to update; otherwise each write extends the file.
std::pair<double, double> MeasureFdatasync(const std::filesystem::path& dir, int count,
                                           bool preallocated) {
  const std::filesystem::path path = dir / "fdatasync-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return {0, 0};
  const std::string block(4096, 'f');
  if (preallocated) {
    ::posix_fallocate(fd, 0, static_cast<off_t>(block.size()) * count);
    ::fsync(fd);
  }
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) break;
    ::fdatasync(fd);
    ms.push_back(Ms(Clock::now() - start));
  }
  ::close(fd);
  std::filesystem::remove(path);
  return {Percentile(ms, 0.5), Percentile(ms, 0.99)};
}

// p50 of one fdatasync while `writers` threads (the nodes of a cluster on one
// disk) each run `count` write + fdatasync rounds into their own fallocated file
// in `dir`, in ms. Loopback nodes share the disk: a commit needs the leader's
// and a follower's fsync, and the disk may serve concurrent ones one by one.
double MeasureConcurrentFdatasync(const std::filesystem::path& dir, int writers, int count) {
  std::vector<std::vector<double>> ms(writers);
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      const std::filesystem::path path = dir / ("fdatasync-probe-" + std::to_string(w));
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return;
      const std::string block(4096, 'f');
      ::posix_fallocate(fd, 0, static_cast<off_t>(block.size()) * count);
      ::fsync(fd);
      for (int i = 0; i < count; ++i) {
        const auto start = Clock::now();
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) break;
        ::fdatasync(fd);
        ms[w].push_back(Ms(Clock::now() - start));
      }
      ::close(fd);
      std::filesystem::remove(path);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (const auto& m : ms) all.insert(all.end(), m.begin(), m.end());
  return Percentile(all, 0.5);
}

// p50 of a 64-byte ping-pong over a 127.0.0.1 TCP connection (TCP_NODELAY), in ms.
double MeasureLoopbackRtt(int count) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listener);
    return 0;
  }
  const int one = 1;
  auto read_full = [](int fd, char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, buf + got, n - got);
      if (r <= 0) return false;
      got += r;
    }
    return true;
  };
  std::thread echo([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char buf[64];
    while (read_full(fd, buf, sizeof(buf))) {
      if (::write(fd, buf, sizeof(buf)) != sizeof(buf)) break;
    }
    ::close(fd);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  std::vector<double> ms;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char buf[64] = {};
    for (int i = 0; i < count; ++i) {
      const auto start = Clock::now();
      if (::write(fd, buf, sizeof(buf)) != sizeof(buf) || !read_full(fd, buf, sizeof(buf))) break;
      ms.push_back(Ms(Clock::now() - start));
    }
  }
  ::close(fd);
  echo.join();
  ::close(listener);
  return Percentile(ms, 0.5);
}

// ---------------------------------------------------------------- processes

int FreePort(bool also_udp) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    bool ok = port != 0;
    if (ok && also_udp) {
      const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
      ok = ::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(udp);
    }
    ::close(tcp);
    if (ok) return port;
  }
  return 0;
}

// One `proglog` process; its stderr is read line by line into memory and into
// <dir>/<name>.log.
class Process {
 public:
  using LineHook = std::function<void(const std::string& name, const std::string& line)>;

  Process(std::string name, std::vector<std::string> args, std::filesystem::path log_path,
          LineHook hook)
      : name_(std::move(name)),
        args_(std::move(args)),
        log_path_(std::move(log_path)),
        hook_(std::move(hook)) {}

  ~Process() {
    if (Running()) Signal(SIGKILL);
    Wait(std::chrono::seconds(30));
    if (reader_.joinable()) reader_.join();
  }

  bool Start() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      std::fprintf(stderr, "spawn %s: %s\n", args_[0].c_str(), std::strerror(rc));
      return false;
    }
    reader_ = std::thread([this, fd = fds[0]] { Read(fd); });
    return true;
  }

  // Waits for a JSON log line whose msg is `msg`; nullopt on timeout or exit.
  std::optional<std::string> WaitFor(const std::string& msg, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    const std::string needle = "\"msg\":\"" + msg + "\"";
    size_t seen = 0;
    const auto deadline = Clock::now() + timeout;
    while (true) {
      for (; seen < lines_.size(); ++seen) {
        if (lines_[seen].find(needle) != std::string::npos) return lines_[seen];
      }
      if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        for (; seen < lines_.size(); ++seen) {
          if (lines_[seen].find(needle) != std::string::npos) return lines_[seen];
        }
        return std::nullopt;
      }
    }
  }

  std::string Tail(size_t n) {
    std::lock_guard lock(mu_);
    std::vector<std::string> tail(lines_.end() - std::min(n, lines_.size()), lines_.end());
    return absl::StrJoin(tail, "\n");
  }

  void Signal(int sig) {
    if (pid_ > 0 && !exited_) ::kill(pid_, sig);
  }
  bool Running() {
    if (pid_ <= 0 || exited_) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }
  // Waits for exit up to `timeout`, then kills.
  void Wait(std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Running() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (Running()) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
      exited_ = true;
    }
  }
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

 private:
  void Read(int fd) {
    FILE* in = ::fdopen(fd, "r");
    FILE* out = std::fopen(log_path_.c_str(), "a");
    char* buf = nullptr;
    size_t cap = 0;
    ssize_t n;
    while ((n = ::getline(&buf, &cap, in)) > 0) {
      std::string line(buf, n);
      if (!line.empty() && line.back() == '\n') line.pop_back();
      if (out) std::fprintf(out, "%s\n", line.c_str());
      if (hook_) hook_(name_, line);
      std::lock_guard lock(mu_);
      lines_.push_back(std::move(line));
      cv_.notify_all();
    }
    std::free(buf);
    if (out) std::fclose(out);
    std::fclose(in);
    std::lock_guard lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  std::string name_;
  std::vector<std::string> args_;
  std::filesystem::path log_path_;
  LineHook hook_;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, bool fast_reconnect) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.channel_id", static_cast<int>(random()));  // no channel sharing
  if (fast_reconnect) {
    args.SetInt("grpc.initial_reconnect_backoff_ms", 20);
    args.SetInt("grpc.min_reconnect_backoff_ms", 20);
    args.SetInt("grpc.max_reconnect_backoff_ms", 200);
  }
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// N `proglog` nodes on fixed loopback ports (so a restart keeps its addresses).
class Cluster {
 public:
  Cluster(const Flags& flags, std::filesystem::path dir, int size,
          std::vector<std::string> extra_args)
      : flags_(flags), dir_(std::move(dir)), extra_(std::move(extra_args)) {
    for (int i = 1; i <= size; ++i) {
      const std::string name = "n" + std::to_string(i);
      names_.push_back(name);
      ports_[name] = {FreePort(false), FreePort(true)};
    }
    std::filesystem::create_directories(dir_);
  }
  ~Cluster() { Stop(); }

  const std::vector<std::string>& names() const { return names_; }
  std::string RpcAddr(const std::string& name) {
    return "127.0.0.1:" + std::to_string(ports_[name].first);
  }
  std::string GossipAddr(const std::string& name) {
    return "127.0.0.1:" + std::to_string(ports_[name].second);
  }
  std::optional<std::string> NameOfAddr(const std::string& addr) {
    const std::string port = addr.substr(addr.rfind(':') + 1);
    for (const auto& [name, ports] : ports_) {
      if (std::to_string(ports.first) == port) return name;
    }
    return std::nullopt;
  }

  // Starts every node: the first bootstraps, the others join its gossip.
  bool StartAll() {
    if (!StartNode(names_[0], true, {}) || !WaitServing(names_[0])) return false;
    for (size_t i = 1; i < names_.size(); ++i) {
      if (!StartNode(names_[i], false, {GossipAddr(names_[0])})) return false;
    }
    for (size_t i = 1; i < names_.size(); ++i) {
      if (!WaitServing(names_[i])) return false;
    }
    return true;
  }

  bool Restart(const std::string& name) {
    std::vector<std::string> join;
    for (const auto& n : names_) {
      if (n != name && procs_.count(n) && procs_[n]->Running()) join.push_back(GossipAddr(n));
    }
    procs_.erase(name);  // reaps the old process
    return StartNode(name, false, join) && WaitServing(name);
  }

  Process* Proc(const std::string& name) {
    return procs_.count(name) ? procs_[name].get() : nullptr;
  }

  logpb::v1::Log::Stub& Stub(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& stub = stubs_[name];
    if (!stub) stub = logpb::v1::Log::NewStub(NewChannel(RpcAddr(name), true));
    return *stub;
  }

  // GetServers on `name`: {id -> is_leader}, or nullopt.
  std::optional<std::map<std::string, bool>> Servers(const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    GetServersResponse response;
    if (!Stub(name).GetServers(&context, GetServersRequest(), &response).ok()) return std::nullopt;
    std::map<std::string, bool> out;
    for (const auto& s : response.servers()) out[s.id()] = s.is_leader();
    return out;
  }

  // The leader all of `members` list with exactly `members`, or nullopt.
  std::optional<std::string> AgreedLeader(const std::vector<std::string>& members) {
    std::optional<std::string> leader;
    const std::set<std::string> want(members.begin(), members.end());
    for (const auto& name : members) {
      auto view = Servers(name);
      if (!view || view->size() != want.size()) return std::nullopt;
      std::vector<std::string> leaders;
      for (const auto& [id, is_leader] : *view) {
        if (!want.count(id)) return std::nullopt;
        if (is_leader) leaders.push_back(id);
      }
      if (leaders.size() != 1 || (leader && *leader != leaders[0])) return std::nullopt;
      leader = leaders[0];
    }
    return leader;
  }

  // Raft membership of `name` as the leaders log it: false after "removing" or
  // "adding learner" until "promoting".
  bool IsVoter(const std::string& name) {
    std::lock_guard lock(mu_);
    return !learner_or_removed_.count(name);
  }

  // Waits until every node lists all of them, all voters, with one leader, and a
  // produce on the leader is readable on every node. Returns the leader's name.
  std::optional<std::string> WaitReady(std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      std::optional<std::string> leader = AgreedLeader(names_);
      bool voters = true;
      for (const auto& n : names_) voters = voters && IsVoter(n);
      if (leader && voters) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        ProduceRequest request;
        request.mutable_record()->set_value("ready");
        ProduceResponse response;
        if (Stub(*leader).Produce(&context, request, &response).ok()) {
          bool everywhere = true;
          for (const auto& n : names_) {
            for (int i = 0; i < 200; ++i) {  // followers apply shortly after the leader
              grpc::ClientContext c;
              c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
              ConsumeRequest cr;
              cr.set_offset(response.offset());
              ConsumeResponse out;
              if (Stub(n).Consume(&c, cr, &out).ok()) break;
              if (i == 199) everywhere = false;
              std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
          }
          if (everywhere) return leader;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  void Stop() {
    for (auto& [name, proc] : procs_) proc->Signal(SIGKILL);
    procs_.clear();
  }

  std::string Tails() {
    std::string out;
    for (auto& [name, proc] : procs_) out += "--- " + name + "\n" + proc->Tail(15) + "\n";
    return out;
  }

 private:
  bool StartNode(const std::string& name, bool bootstrap, const std::vector<std::string>& join) {
    std::vector<std::string> args = {flags_.proglog,
                                     "--data-dir",
                                     (dir_ / name).string(),
                                     "--node-name",
                                     name,
                                     "--rpc-port",
                                     std::to_string(ports_[name].first),
                                     "--bind-addr",
                                     GossipAddr(name),
                                     "--fsync",
                                     "always",
                                     "--log-format",
                                     "json"};
    if (bootstrap) args.push_back("--bootstrap");
    if (!join.empty()) {
      args.push_back("--start-join-addrs");
      args.push_back(absl::StrJoin(join, ","));
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    auto proc = std::make_unique<Process>(
        name, args, dir_ / (name + ".log"),
        [this](const std::string&, const std::string& line) { OnLine(line); });
    if (!proc->Start()) return false;
    procs_[name] = std::move(proc);
    return true;
  }

  bool WaitServing(const std::string& name) {
    if (!procs_[name]->WaitFor("serving", std::chrono::seconds(30))) {
      std::fprintf(stderr, "%s did not start serving:\n%s\n", name.c_str(),
                   procs_[name]->Tail(20).c_str());
      return false;
    }
    return true;
  }

  void OnLine(const std::string& line) {
    if (flags_.verbose) std::fprintf(stderr, "%s\n", line.c_str());
    std::optional<std::string> msg = JsonField(line, "msg");
    if (!msg || msg->rfind("raft: ", 0) != 0) return;
    for (const auto& name : names_) {
      for (const char* what : {"removing ", "adding learner ", "promoting "}) {
        if (msg->rfind(std::string("raft: ") + what + name + " ", 0) == 0) {
          std::lock_guard lock(mu_);
          if (what[0] == 'p') {
            learner_or_removed_.erase(name);
          } else {
            learner_or_removed_.insert(name);
          }
        }
      }
    }
  }

  const Flags& flags_;
  std::filesystem::path dir_;
  std::vector<std::string> extra_;
  std::vector<std::string> names_;
  std::map<std::string, std::pair<int, int>> ports_;
  std::map<std::string, std::unique_ptr<Process>> procs_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<logpb::v1::Log::Stub>> stubs_;
  std::set<std::string> learner_or_removed_;
};

// ---------------------------------------------------------------- load

struct Result {
  uint64_t records = 0;
  double seconds = 0;
  // CPU time of this process (the client side) over the run, where measured.
  double cpu_seconds = 0;
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
  double Rate() const { return seconds > 0 ? records / seconds : 0; }
};

void Merge(Result& total, Result& mine, std::mutex& mu) {
  std::lock_guard lock(mu);
  total.records += mine.records;
  total.errors += mine.errors;
  total.latencies_ms.insert(total.latencies_ms.end(), mine.latencies_ms.begin(),
                            mine.latencies_ms.end());
}

// Runs `client(stub, request, stop_at)` on `clients` threads, each with
// its own channel and a value of `value_bytes`, and merges what they return.
template <typename ClientLoop>
Result RunClients(const std::string& address, int clients, size_t value_bytes, double seconds,
                  ClientLoop client) {
  Result total;
  std::mutex mu;
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = logpb::v1::Log::NewStub(NewChannel(address, false));
      ProduceRequest request;
      request.mutable_record()->set_value(std::string(value_bytes, 'a' + c % 26));
      Result mine = client(*stub, request, stop_at);
      Merge(total, mine, mu);
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return total;
}

// Pipelined ProduceStream per client with up to kWindow unanswered requests.
Result ProduceStreams(const std::string& address, int clients, size_t value_bytes, double seconds) {
  return RunClients(
      address, clients, value_bytes, seconds,
      [](logpb::v1::Log::Stub& stub, const ProduceRequest& request, auto stop_at) {
        constexpr int kWindow = 256;
        grpc::ClientContext context;
        auto stream = stub.ProduceStream(&context);
        std::counting_semaphore<kWindow> window(kWindow);
        std::vector<Clock::time_point> sent(kWindow);
        std::atomic<uint64_t> written{0};
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
          mine.latencies_ms.push_back(Ms(Clock::now() - sent[mine.records % kWindow]));
          ++mine.records;
          window.release();
        }
        writer.join();
        grpc::Status status = stream->Finish();
        if (!status.ok()) {
          ++mine.errors;
          std::fprintf(stderr, "produce stream: %s\n", status.error_message().c_str());
        }
        return mine;
      });
}

// Each client sends one Produce at a time until the time is up.
Result ProduceUnary(const std::string& address, int clients, size_t value_bytes, double seconds) {
  return RunClients(
      address, clients, value_bytes, seconds,
      [](logpb::v1::Log::Stub& stub, const ProduceRequest& request, auto stop_at) {
        Result mine;
        while (Clock::now() < stop_at) {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          ProduceResponse response;
          const auto begin = Clock::now();
          if (!stub.Produce(&context, request, &response).ok()) {
            if (++mine.errors > 10) break;
            continue;
          }
          mine.latencies_ms.push_back(Ms(Clock::now() - begin));
          ++mine.records;
        }
        return mine;
      });
}

struct Row {
  std::string workload;
  size_t value_bytes;
  Result single, replicated;
};

// ---------------------------------------------------------------- client

// User and system CPU time of this process so far (every thread).
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double CpuMicrosPerCall(const Result& r) {
  return r.records > 0 ? r.cpu_seconds / r.records * 1e6 : 0;
}

// Closed-loop unary produce of `value_bytes` on `clients` threads sharing one
// call path: `produce(value)` returns whether it was acknowledged.
Result SharedProduceLoop(int clients, size_t value_bytes, double seconds,
                         const std::function<bool(const std::string&)>& produce) {
  Result total;
  std::mutex mu;
  const double cpu_start = ProcessCpuSeconds();
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const std::string value(value_bytes, 'a' + c % 26);
      Result mine;
      while (Clock::now() < stop_at) {
        const auto begin = Clock::now();
        if (!produce(value)) {
          if (++mine.errors > 10) break;
          continue;
        }
        mine.latencies_ms.push_back(Ms(Clock::now() - begin));
        ++mine.records;
      }
      Merge(total, mine, mu);
    });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  total.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  return total;
}

std::unique_ptr<proglog::client::Client> OpenLbClient(const std::string& bootstrap) {
  proglog::client::Options options;
  options.addresses = {bootstrap};
  options.retry.max_attempts = 100;
  options.retry.max_backoff = std::chrono::milliseconds(200);
  auto client = proglog::client::Client::Open(options);
  if (!client.ok()) {
    std::fprintf(stderr, "client: %s\n", client.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(client);
}

// The load-balancing client against a direct channel to the leader, on one
// 3-node cluster, alternating rounds; then the failover a client loop sees.
void RunClientSection(const Flags& flags) {
  Cluster cluster(flags, flags.dir / "client", 3, {});
  std::optional<std::string> leader;
  if (cluster.StartAll()) leader = cluster.WaitReady(std::chrono::seconds(60));
  if (!leader) {
    std::fprintf(stderr, "client: cluster did not form:\n%s\n", cluster.Tails().c_str());
    return;
  }
  std::string follower;
  for (const auto& n : cluster.names()) {
    if (n != *leader) follower = n;
  }
  auto direct = logpb::v1::Log::NewStub(NewChannel(cluster.RpcAddr(*leader), false));
  auto direct_produce = [&](const std::string& value) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ProduceRequest request;
    request.mutable_record()->set_value(value);
    ProduceResponse response;
    return direct->Produce(&context, request, &response).ok();
  };
  auto lb = OpenLbClient(cluster.RpcAddr(follower));
  auto lb_produce = [&](const std::string& value) { return lb->Produce(value).ok(); };
  std::printf(
      "\nload-balancing client (given a follower's address) vs a direct channel to the leader,\n"
      "unary produce 100 B, --fsync=always, %d alternating pairs of %.1f s rounds; medians of\n"
      "the rates, of each pair's ratio, and of this process's CPU per call (the client side)\n",
      flags.client_rounds, flags.seconds);
  std::printf("  %-7s | %9s %9s | %6s | %12s %12s | %10s %10s\n", "clients", "direct/s", "client/s",
              "ratio", "direct us/op", "client us/op", "direct p50", "client p50");
  for (int clients : {1, 16}) {
    std::vector<double> direct_rates, lb_rates, ratios, direct_cpu, lb_cpu, direct_p50, lb_p50;
    for (int round = 0; round < flags.client_rounds; ++round) {
      // Which goes first alternates, so a drift within a pair (the log growing,
      // a neighbour's load) favours neither.
      Result d, c;
      if (round % 2 == 0) {
        d = SharedProduceLoop(clients, 100, flags.seconds, direct_produce);
        c = SharedProduceLoop(clients, 100, flags.seconds, lb_produce);
      } else {
        c = SharedProduceLoop(clients, 100, flags.seconds, lb_produce);
        d = SharedProduceLoop(clients, 100, flags.seconds, direct_produce);
      }
      direct_rates.push_back(d.Rate());
      lb_rates.push_back(c.Rate());
      if (d.Rate() > 0) ratios.push_back(c.Rate() / d.Rate());
      direct_cpu.push_back(CpuMicrosPerCall(d));
      lb_cpu.push_back(CpuMicrosPerCall(c));
      direct_p50.push_back(Percentile(d.latencies_ms, 0.5));
      lb_p50.push_back(Percentile(c.latencies_ms, 0.5));
    }
    std::printf("  %-7d | %9.0f %9.0f | %6.3f | %12.1f %12.1f | %7.3f ms %7.3f ms\n", clients,
                Percentile(direct_rates, 0.5), Percentile(lb_rates, 0.5), Percentile(ratios, 0.5),
                Percentile(direct_cpu, 0.5), Percentile(lb_cpu, 0.5), Percentile(direct_p50, 0.5),
                Percentile(lb_p50, 0.5));
  }
  std::fflush(stdout);

  // Failover as a client loop sees it: a produce loop through the client,
  // the leader killed; the time from the kill to the loop's next success.
  std::vector<double> seen_ms;
  for (int round = 0; round < flags.client_rounds; ++round) {
    leader = cluster.WaitReady(std::chrono::seconds(30));
    if (!leader) break;
    // The first produce that began after the kill and was acknowledged: one
    // already in flight at the kill may still be answered by the old leader.
    std::atomic<bool> stop{false};
    std::atomic<int64_t> killed_ns{INT64_MAX};
    std::atomic<int64_t> first_after_kill_ns{0};
    std::thread loop([&] {
      while (!stop.load()) {
        const int64_t began = Clock::now().time_since_epoch().count();
        if (lb->Produce("failover").ok() && began > killed_ns.load() &&
            first_after_kill_ns.load() == 0) {
          first_after_kill_ns.store(Clock::now().time_since_epoch().count());
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto killed = Clock::now();
    killed_ns.store(killed.time_since_epoch().count());
    cluster.Proc(*leader)->Signal(SIGKILL);
    while (first_after_kill_ns.load() == 0 && Clock::now() - killed < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const int64_t first = first_after_kill_ns.load();
    stop.store(true);
    loop.join();
    if (first > 0) seen_ms.push_back(Ms(Clock::duration(first) - killed.time_since_epoch()));
    cluster.Proc(*leader)->Wait(std::chrono::seconds(10));
    if (!cluster.Restart(*leader)) break;
  }
  std::sort(seen_ms.begin(), seen_ms.end());
  if (!seen_ms.empty()) {
    std::printf(
        "  failover seen by a client loop (kill -9 of the leader to the next ack): n=%zu "
        "min %.0f ms, p50 %.0f ms, max %.0f ms\n",
        seen_ms.size(), seen_ms.front(), Percentile(seen_ms, 0.5), seen_ms.back());
  }
  std::fflush(stdout);
}

// ---------------------------------------------------------------- interleaved

// Then 16 clients: short bursts of unary Produce and of ProduceStream against each
// cluster in turn, round after round; the median records/s per cluster and the median
// of each round's 3n/1n ratio per binary.
template <typename Target>
void InterleaveBursts(const Flags& flags, const std::vector<Target>& targets,
                      const std::vector<Flags>& binaries) {
  constexpr int kRounds = 6;
  constexpr double kBurstSeconds = 1.0;
  const size_t bytes = flags.value_bytes.front();
  for (const bool stream : {false, true}) {
    std::vector<std::vector<double>> rates(targets.size());
    for (int round = 0; round < kRounds; ++round) {
      for (size_t i = 0; i < targets.size(); ++i) {
        const std::string address = targets[i].address;
        const Result r = stream ? ProduceStreams(address, 16, bytes, kBurstSeconds)
                                : ProduceUnary(address, 16, bytes, kBurstSeconds);
        rates[i].push_back(r.Rate());
      }
    }
    std::printf("  %s c=16, %d rounds of %.0f s bursts in turn: median records/s\n",
                stream ? "stream" : "unary", kRounds, kBurstSeconds);
    for (size_t b = 0; b < binaries.size(); ++b) {
      std::vector<double> ratios;
      for (int round = 0; round < kRounds; ++round) {
        const double one = rates[2 * b][round];
        ratios.push_back(one > 0 ? rates[2 * b + 1][round] / one : 0);
      }
      std::printf("  [%zu] 1n %8.0f  3n %8.0f  3n/1n (median of rounds) %.2f\n", b,
                  Percentile(rates[2 * b], 0.5), Percentile(rates[2 * b + 1], 0.5),
                  Percentile(ratios, 0.5));
    }
    std::fflush(stdout);
  }
}

// One client's unary produce latency on a 1-node and a 3-node cluster of each of two
// binaries, all four running at once and produced to in turn, one call at a time: every
// cluster sees the same load from the rest of the machine, so the figures compare the
// binaries and the cluster sizes even where back-to-back runs differ by more than that.
void RunInterleaved(const Flags& flags, double floor_ms) {
  std::vector<Flags> binaries = {flags, flags};
  binaries[1].proglog = flags.interleave;
  struct Target {
    size_t binary;
    int size;
    std::unique_ptr<Cluster> cluster;
    std::unique_ptr<logpb::v1::Log::Stub> stub;
    std::vector<double> ms;
    std::string address;  // the leader's
  };
  std::vector<Target> targets;
  for (size_t b = 0; b < binaries.size(); ++b) {
    for (int size : {1, 3}) {
      Target t{b, size, nullptr, nullptr, {}, ""};
      t.cluster = std::make_unique<Cluster>(
          binaries[b],
          flags.dir / ("interleaved-" + std::to_string(b) + "-" + std::to_string(size)), size,
          std::vector<std::string>{});
      std::optional<std::string> leader;
      if (t.cluster->StartAll()) leader = t.cluster->WaitReady(std::chrono::seconds(60));
      if (!leader) {
        std::fprintf(stderr, "interleaved: a cluster did not form:\n%s\n",
                     t.cluster->Tails().c_str());
        return;
      }
      t.address = t.cluster->RpcAddr(*leader);
      t.stub = logpb::v1::Log::NewStub(NewChannel(t.address, false));
      targets.push_back(std::move(t));
    }
  }
  ProduceRequest request;
  request.mutable_record()->set_value(std::string(flags.value_bytes.front(), 'i'));
  constexpr int kWarmRounds = 200;
  uint64_t errors = 0;
  for (int round = 0; round < kWarmRounds + flags.interleave_rounds; ++round) {
    for (Target& t : targets) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      ProduceResponse response;
      const auto begin = Clock::now();
      if (!t.stub->Produce(&context, request, &response).ok()) {
        ++errors;
        continue;
      }
      if (round >= kWarmRounds) t.ms.push_back(Ms(Clock::now() - begin));
    }
  }
  std::printf(
      "\ninterleaved: unary produce %zu B, 1 client, %d calls per cluster, the 4 clusters in "
      "turn%s\n",
      flags.value_bytes.front(), flags.interleave_rounds,
      errors ? (" errors=" + std::to_string(errors)).c_str() : "");
  std::printf("  %-3s %-4s %8s %8s %12s  %s\n", "bin", "size", "p50 ms", "p90 ms", "p50/floor",
              "binary");
  for (const Target& t : targets) {
    const double p50 = Percentile(t.ms, 0.5);
    std::printf("  [%zu] %-4s %8.3f %8.3f %11.2fx  %s\n", t.binary,
                (std::to_string(t.size) + "n").c_str(), p50, Percentile(t.ms, 0.9),
                floor_ms > 0 ? p50 / floor_ms : 0, binaries[t.binary].proglog.c_str());
  }
  for (size_t b = 0; b < binaries.size(); ++b) {
    const double one = Percentile(targets[2 * b].ms, 0.5);
    const double three = Percentile(targets[2 * b + 1].ms, 0.5);
    std::printf("  [%zu] 3n/1n at 1 client (1n p50 / 3n p50) %.2f\n", b,
                three > 0 ? one / three : 0);
  }
  std::fflush(stdout);
  InterleaveBursts(flags, targets, binaries);
}

// ---------------------------------------------------------------- failover

// Kills (or terminates) the leader and times the first produce a survivor
// acknowledges. Returns ms, or nullopt if none within `timeout`.
std::optional<double> TimeFailover(Cluster& cluster, const std::string& leader, int sig,
                                   std::chrono::seconds timeout) {
  std::vector<std::string> survivors;
  for (const auto& n : cluster.names()) {
    if (n != leader) survivors.push_back(n);
  }
  // Warm the channels to the survivors so connection setup is not timed.
  for (const auto& n : survivors) cluster.Servers(n);
  ProduceRequest request;
  request.mutable_record()->set_value(std::string(100, 'f'));
  const auto start = Clock::now();
  cluster.Proc(leader)->Signal(sig);
  size_t next = 0;
  std::optional<std::string> hint;
  while (Clock::now() - start < timeout) {
    std::string target;
    if (hint) {
      target = *hint;
      hint.reset();
    } else {
      target = survivors[next++ % survivors.size()];
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    ProduceResponse response;
    const grpc::Status status = cluster.Stub(target).Produce(&context, request, &response);
    if (status.ok()) return Ms(Clock::now() - start);
    bool followed = false;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      const auto& trailers = context.GetServerTrailingMetadata();
      auto it = trailers.find(kLeaderKey);
      if (it != trailers.end()) {
        std::optional<std::string> name =
            cluster.NameOfAddr(std::string(it->second.data(), it->second.size()));
        if (name && *name != leader && *name != target) {
          hint = name;
          followed = true;
        }
      }
    }
    // Without a usable hint, each survivor once, then a short pause.
    if (!followed && next % survivors.size() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return std::nullopt;
}

struct FailoverStats {
  std::string setting, signal;
  std::vector<double> ms;
  int failed = 0;
};

void PrintFailover(const FailoverStats& s) {
  if (s.ms.empty()) {
    std::printf("  %-8s %-8s n=0 failed=%d\n", s.setting.c_str(), s.signal.c_str(), s.failed);
    return;
  }
  std::vector<double> v = s.ms;
  std::sort(v.begin(), v.end());
  std::printf("  %-8s %-8s n=%-3zu min %8.1f ms  median %8.1f ms  max %8.1f ms%s\n",
              s.setting.c_str(), s.signal.c_str(), v.size(), v.front(), Percentile(v, 0.5),
              v.back(), s.failed ? (" failed=" + std::to_string(s.failed)).c_str() : "");
  std::fflush(stdout);
}

// One cluster per election-timeout setting; kill -9 rounds then SIGTERM rounds,
// each bounded by `kills` and by `budget`.
std::vector<FailoverStats> RunFailover(const Flags& flags, const std::string& setting,
                                       double budget_seconds) {
  std::vector<std::string> extra;
  if (setting != "default") extra = {"--raft-election-timeout", setting};
  Cluster cluster(flags, flags.dir / ("failover-" + setting), 3, extra);
  std::vector<FailoverStats> out;
  if (!cluster.StartAll()) return out;
  if (!cluster.WaitReady(std::chrono::seconds(60))) {
    std::fprintf(stderr, "cluster (%s) did not form:\n%s\n", setting.c_str(),
                 cluster.Tails().c_str());
    return out;
  }
  for (int sig : {SIGKILL, SIGTERM}) {
    FailoverStats stats{setting, sig == SIGKILL ? "kill-9" : "SIGTERM", {}, 0};
    const auto section_start = Clock::now();
    const double section_budget = budget_seconds / 2;
    for (int round = 0; round < flags.kills; ++round) {
      if (std::chrono::duration<double>(Clock::now() - section_start).count() > section_budget)
        break;
      std::optional<std::string> leader = cluster.WaitReady(std::chrono::seconds(30));
      if (!leader) {
        std::fprintf(stderr, "failover (%s): cluster not ready:\n%s\n", setting.c_str(),
                     cluster.Tails().c_str());
        break;
      }
      std::optional<double> ms = TimeFailover(cluster, *leader, sig, std::chrono::seconds(15));
      if (ms) {
        stats.ms.push_back(*ms);
      } else {
        ++stats.failed;
      }
      if (flags.verbose) {
        std::fprintf(stderr, "failover %s %s round %d leader %s: %.1f ms\n", setting.c_str(),
                     stats.signal.c_str(), round, leader->c_str(), ms ? *ms : -1.0);
      }
      cluster.Proc(*leader)->Wait(std::chrono::seconds(10));
      if (sig == SIGTERM) {
        // Let the survivors drop the node that left before it comes back.
        std::vector<std::string> survivors;
        for (const auto& n : cluster.names()) {
          if (n != *leader) survivors.push_back(n);
        }
        const auto until = Clock::now() + std::chrono::seconds(5);
        while (!cluster.AgreedLeader(survivors) && Clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      if (!cluster.Restart(*leader)) break;
    }
    PrintFailover(stats);
    out.push_back(std::move(stats));
  }
  return out;
}

// ---------------------------------------------------------------- main

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string v;
    const size_t eq = arg.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      v = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&]() {
      if (inline_value) return true;
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    if (arg == "--proglog") {
      if (!value()) return false;
      flags->proglog = v;
    } else if (arg == "--dir") {
      if (!value()) return false;
      flags->dir = v;
    } else if (arg == "--seconds") {
      if (!value() || !absl::SimpleAtod(v, &flags->seconds) || flags->seconds <= 0) return false;
    } else if (arg == "--value-bytes") {
      if (!value()) return false;
      flags->value_bytes.clear();
      for (absl::string_view s : absl::StrSplit(v, ',')) {
        size_t n;
        if (!absl::SimpleAtoi(s, &n) || n == 0) return false;
        flags->value_bytes.push_back(n);
      }
    } else if (arg == "--client-rounds") {
      if (!value() || !absl::SimpleAtoi(v, &flags->client_rounds) || flags->client_rounds < 1) {
        return false;
      }
    } else if (arg == "--interleave") {
      if (!value()) return false;
      flags->interleave = v;
    } else if (arg == "--interleave-rounds") {
      if (!value() || !absl::SimpleAtoi(v, &flags->interleave_rounds) ||
          flags->interleave_rounds < 1) {
        return false;
      }
    } else if (arg == "--kills") {
      if (!value() || !absl::SimpleAtoi(v, &flags->kills) || flags->kills < 0) return false;
    } else if (arg == "--failover-seconds") {
      if (!value() || !absl::SimpleAtod(v, &flags->failover_seconds)) return false;
    } else if (arg == "--election-timeouts") {
      if (!value()) return false;
      flags->election_timeouts = absl::StrSplit(v, ',', absl::SkipEmpty());
    } else if (arg == "--skip-throughput") {
      flags->throughput = false;
    } else if (arg == "--skip-client") {
      flags->client = false;
    } else if (arg == "--skip-failover") {
      flags->failover = false;
    } else if (arg == "--keep-dir") {
      flags->keep_dir = true;
    } else if (arg == "--verbose") {
      flags->verbose = true;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: proglog-bench-cluster [--proglog PATH] [--dir D] [--seconds S]\n"
                 "         [--value-bytes 100,1024] [--kills N] [--failover-seconds S]\n"
                 "         [--election-timeouts 150ms,default] [--skip-throughput]\n"
                 "         [--skip-failover] [--skip-client] [--client-rounds N] [--keep-dir]\n"
                 "         [--verbose] [--interleave OTHER_BINARY] [--interleave-rounds N]\n");
    return 2;
  }
  if (!flags.interleave.empty() && ::access(flags.interleave.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "--interleave %s: not an executable\n", flags.interleave.c_str());
    return 2;
  }
  if (::access(flags.proglog.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "--proglog %s: not an executable\n", flags.proglog.c_str());
    return 2;
  }
  bool own_dir = false;
  if (flags.dir.empty()) {
    char dir_template[] = "/tmp/proglog-bench-cluster-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return 1;
    flags.dir = dir_template;
    own_dir = true;
  }
  std::filesystem::create_directories(flags.dir);
  const auto run_start = Clock::now();

  // 1. Physical floor.
  const auto [append_p50, append_p99] = MeasureFdatasync(flags.dir, 200, false);
  const auto [fsync_p50, fsync_p99] = MeasureFdatasync(flags.dir, 200, true);
  const double rtt_p50 = MeasureLoopbackRtt(2000);
  const double floor_ms = fsync_p50 + rtt_p50;
  const double shared_fsync_p50 = MeasureConcurrentFdatasync(flags.dir, 3, 200);
  std::printf("proglog-bench-cluster: %s, data in %s, %ld cores\n", flags.proglog.c_str(),
              flags.dir.c_str(), ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "floor: 4 KiB write + fdatasync p50 %.3f ms (p99 %.3f) into fallocated space, "
      "p50 %.3f ms (p99 %.3f) extending the file\n",
      fsync_p50, fsync_p99, append_p50, append_p99);
  std::printf(
      "       loopback TCP RTT p50 %.3f ms; commit floor (fdatasync fallocated + RTT) "
      "%.3f ms\n",
      rtt_p50, floor_ms);
  std::printf(
      "       3 concurrent writers (one per node, all on this disk): fdatasync p50 %.3f ms\n",
      shared_fsync_p50);
  std::fflush(stdout);

  // 2. Throughput: a 1-node cluster, then 3 nodes; clients talk to the leader.
  if (flags.throughput) {
    struct Workload {
      std::string name;
      int clients;
      bool stream;
    };
    const std::vector<Workload> workloads = {
        {"unary", 1, false}, {"unary", 16, false}, {"stream", 16, true}};
    std::vector<Row> rows;
    for (size_t bytes : flags.value_bytes) {
      for (const auto& w : workloads) {
        rows.push_back({w.name + " c=" + std::to_string(w.clients), bytes, {}, {}});
      }
    }
    for (int size : {1, 3}) {
      Cluster cluster(flags, flags.dir / ("throughput-" + std::to_string(size)), size, {});
      std::optional<std::string> leader;
      if (cluster.StartAll()) leader = cluster.WaitReady(std::chrono::seconds(60));
      if (!leader) {
        std::fprintf(stderr, "%d-node cluster did not form:\n%s\n", size, cluster.Tails().c_str());
        return 1;
      }
      const std::string address = cluster.RpcAddr(*leader);
      size_t row = 0;
      for (size_t bytes : flags.value_bytes) {
        for (const auto& w : workloads) {
          Result r = w.stream ? ProduceStreams(address, w.clients, bytes, flags.seconds)
                              : ProduceUnary(address, w.clients, bytes, flags.seconds);
          (size == 1 ? rows[row].single : rows[row].replicated) = std::move(r);
          ++row;
        }
      }
    }
    std::printf(
        "\nproduce, --fsync=always, %.1f s per figure (1 node = bootstrapped 1-node "
        "cluster; 3 nodes = leader of a 3-node cluster)\n",
        flags.seconds);
    std::printf("  %-11s %6s | %10s %8s %8s | %10s %8s %8s | %6s %s\n", "workload", "value",
                "1n rec/s", "p50 ms", "p99 ms", "3n rec/s", "p50 ms", "p99 ms", "3n/1n",
                "3n p50/floor");
    for (Row& r : rows) {
      const double ratio = r.single.Rate() > 0 ? r.replicated.Rate() / r.single.Rate() : 0;
      const double p50 = Percentile(r.replicated.latencies_ms, 0.5);
      std::printf("  %-11s %6zu | %10.0f %8.2f %8.2f | %10.0f %8.2f %8.2f | %6.2f %6.2fx%s\n",
                  r.workload.c_str(), r.value_bytes, r.single.Rate(),
                  Percentile(r.single.latencies_ms, 0.5), Percentile(r.single.latencies_ms, 0.99),
                  r.replicated.Rate(), p50, Percentile(r.replicated.latencies_ms, 0.99), ratio,
                  floor_ms > 0 ? p50 / floor_ms : 0,
                  r.single.errors + r.replicated.errors
                      ? (" errors=" + std::to_string(r.single.errors + r.replicated.errors)).c_str()
                      : "");
    }
    std::fflush(stdout);
  }

  // Two binaries side by side, at one client.
  if (!flags.interleave.empty()) RunInterleaved(flags, floor_ms);

  // 3. The load-balancing client.
  if (flags.client) RunClientSection(flags);

  // 4. Failover.
  if (flags.failover && flags.kills > 0 && !flags.election_timeouts.empty()) {
    std::printf(
        "\nfailover: leader stopped -> first produce acknowledged by a survivor "
        "(up to %d rounds per row, %.0f s budget in all)\n",
        flags.kills, flags.failover_seconds);
    const double per_setting = flags.failover_seconds / flags.election_timeouts.size();
    for (const std::string& setting : flags.election_timeouts) {
      RunFailover(flags, setting, per_setting);
    }
  }
  std::printf("\ntotal %.0f s\n", std::chrono::duration<double>(Clock::now() - run_start).count());
  if (own_dir && !flags.keep_dir) std::filesystem::remove_all(flags.dir);
  return 0;
}
