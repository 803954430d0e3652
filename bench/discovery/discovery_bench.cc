// proglog-bench-discovery: convergence time and gossip bandwidth of our
// discovery nodes against the same number of real serf agents, on loopback.
//
// For each cluster size N: start N nodes, each alone; then the first node is
// told to join all the others in one call (our Join / `serf join`), and we time
// until every node lists all N as alive. Then, with the cluster idle, we count
// the gossip bytes (UDP + TCP, as sent on the wire) for --window seconds and
// print bytes per second per node. Our nodes count their own bytes; serf
// agents report theirs as memberlist.{udp,tcp}.sent through statsd to a
// listener in this process; both are counted after a 3 s settle so the join
// broadcasts have run out. Both sides use the LAN profile. Convergence is the
// median of --reps runs.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/discovery/membership.h"
#include "core/discovery/msgpack_io.h"
#include "tests/discovery/process.h"

namespace {

using proglog::discovery::Config;
using proglog::discovery::DecodedValue;
using proglog::discovery::DecodeResult;
using proglog::discovery::DecodeValue;
using proglog::discovery::MapReader;
using proglog::discovery::Membership;
using proglog::discovery::MemberStatus;
using proglog::discovery::MsgpackWriter;

using proglog::discovery::testing::FreePort;

constexpr absl::Duration kSettle = absl::Seconds(3);

std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// Sums the memberlist byte counters serf agents push over statsd.
class StatsdListener {
 public:
  StatsdListener() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~StatsdListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  double SentBytes() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  void Loop() {
    char buf[65536];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      for (absl::string_view line : absl::StrSplit(absl::string_view(buf, n), '\n')) {
        bool udp = absl::StrContains(line, "memberlist.udp.sent:");
        bool tcp = absl::StrContains(line, "memberlist.tcp.sent:");
        if (!udp && !tcp) continue;
        std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(":|"));
        double v = 0;
        if (parts.size() >= 2 && absl::SimpleAtod(parts[1], &v)) {
          absl::MutexLock lock(&mu_);
          sent_ += v;
        }
      }
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  double sent_ ABSL_GUARDED_BY(mu_) = 0;
};

// A minimal client of the serf agent's RPC protocol (msgpack over TCP):
// handshake, then "members" to count alive members.
class SerfRpc {
 public:
  bool Connect(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return false;
    MsgpackWriter w;
    w.Map(2).Raw("Command").Raw("handshake").Raw("Seq").Uint(seq_++);
    w.Map(1).Raw("Version").Uint(1);
    if (!Send(w.Take())) return false;
    DecodedValue header;
    return Read(&header);
  }
  ~SerfRpc() {
    if (fd_ >= 0) close(fd_);
  }
  int AliveMembers() {
    MsgpackWriter w;
    w.Map(2).Raw("Command").Raw("members").Raw("Seq").Uint(seq_++);
    DecodedValue header, body;
    if (!Send(w.Take()) || !Read(&header) || !Read(&body)) return -1;
    MapReader r(body.Root());
    const msgpack::object* members = r.Find("Members");
    if (members == nullptr || members->type != msgpack::type::ARRAY) return -1;
    int alive = 0;
    for (uint32_t i = 0; i < members->via.array.size; ++i) {
      MapReader m(members->via.array.ptr[i]);
      std::string status;
      m.String("Status", &status);
      alive += status == "alive" ? 1 : 0;
    }
    return alive;
  }

 private:
  bool Send(const std::string& data) {
    return write(fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  bool Read(DecodedValue* out) {
    for (;;) {
      DecodeResult r = DecodeValue(buf_.data(), buf_.size(), out);
      if (r == DecodeResult::kOk) {
        buf_.erase(0, out->consumed);
        return true;
      }
      if (r == DecodeResult::kCorrupt) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return false;
      char chunk[65536];
      ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n <= 0) return false;
      buf_.append(chunk, n);
    }
  }
  int fd_ = -1;
  uint64_t seq_ = 0;
  std::string buf_;
};

struct Result {
  double converge_s = -1;
  double converge_min_s = -1;
  double converge_max_s = -1;
  double bytes_per_s_per_node = -1;
};

// Polls `alive_counts` until every node reports n alive; returns seconds from start.
double WaitConverged(absl::Time start, int n, const std::function<std::vector<int>()>& alive_counts,
                     absl::Duration limit) {
  while (absl::Now() - start < limit) {
    std::vector<int> counts = alive_counts();
    bool done = true;
    for (int c : counts) done = done && c == n;
    if (done) return absl::ToDoubleSeconds(absl::Now() - start);
    absl::SleepFor(absl::Milliseconds(10));  // polling cadence of the measurement
  }
  return -1;
}

Result RunOursOnce(int n, absl::Duration window) {
  std::vector<std::unique_ptr<Membership>> nodes;
  std::vector<std::string> addrs;
  for (int i = 0; i < n; ++i) {
    Config c;
    c.node_name = "ours-" + std::to_string(i);
    c.bind_addr = "127.0.0.1:0";
    c.tags = {{"rpc_addr", "127.0.0.1:" + std::to_string(9400 + i)}};
    auto m = Membership::Start(c, nullptr);
    if (!m.ok()) {
      std::fprintf(stderr, "start: %s\n", std::string(m.status().message()).c_str());
      return {};
    }
    addrs.push_back((*m)->Address());
    nodes.push_back(*std::move(m));
  }
  Result r;
  absl::Time start = absl::Now();
  std::vector<std::string> others(addrs.begin() + 1, addrs.end());
  if (!nodes[0]->Join(others).ok()) return r;
  r.converge_s = WaitConverged(
      start, n,
      [&] {
        std::vector<int> counts;
        for (auto& node : nodes) {
          int alive = 0;
          for (const auto& m : node->Members()) alive += m.status == MemberStatus::kAlive ? 1 : 0;
          counts.push_back(alive);
        }
        return counts;
      },
      absl::Seconds(60));
  auto total = [&] {
    double sum = 0;
    for (auto& node : nodes) {
      auto s = node->Stats();
      sum += s.udp_bytes_sent + s.tcp_bytes_sent;
    }
    return sum;
  };
  if (window > absl::ZeroDuration()) {
    absl::SleepFor(kSettle);  // let the join's broadcasts run out first
    double before = total();
    absl::SleepFor(window);  // the measurement window itself
    r.bytes_per_s_per_node = (total() - before) / absl::ToDoubleSeconds(window) / n;
  }
  for (auto& node : nodes) node->Shutdown();
  return r;
}

struct Agent {
  pid_t pid = -1;
  int port = 0;
  int rpc_port = 0;
};

Agent StartAgent(const std::string& name, const std::string& config_file) {
  Agent a;
  a.port = FreePort();
  a.rpc_port = FreePort();
  std::vector<std::string> argv = {"serf",
                                   "agent",
                                   "-node=" + name,
                                   "-bind=" + Loopback(a.port),
                                   "-rpc-addr=" + Loopback(a.rpc_port),
                                   "-config-file=" + config_file,
                                   "-log-level=err"};
  a.pid = fork();
  if (a.pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> args;
    for (std::string& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    execvp("serf", args.data());
    _exit(127);
  }
  return a;
}

Result RunSerfOnce(int n, absl::Duration window) {
  StatsdListener statsd;
  std::string config = "/tmp/proglog-bench-discovery-" + std::to_string(getpid()) + ".json";
  std::ofstream(config) << "{\"statsd_addr\": \"127.0.0.1:" << statsd.port() << "\"}";
  std::vector<Agent> agents;
  for (int i = 0; i < n; ++i) agents.push_back(StartAgent("serf-" + std::to_string(i), config));
  std::vector<std::unique_ptr<SerfRpc>> rpcs;
  Result r;
  for (const Agent& a : agents) {
    auto rpc = std::make_unique<SerfRpc>();
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!rpc->Connect(a.rpc_port) && absl::Now() < deadline) {
      rpc = std::make_unique<SerfRpc>();
      absl::SleepFor(absl::Milliseconds(50));  // the agent is still booting
    }
    rpcs.push_back(std::move(rpc));
  }
  std::string join = "serf join -rpc-addr=" + Loopback(agents[0].rpc_port);
  for (int i = 1; i < n; ++i) join += " " + Loopback(agents[i].port);
  absl::Time start = absl::Now();
  if (std::system((join + " > /dev/null").c_str()) == 0) {
    r.converge_s = WaitConverged(
        start, n,
        [&] {
          std::vector<int> counts;
          for (auto& rpc : rpcs) counts.push_back(rpc->AliveMembers());
          return counts;
        },
        absl::Seconds(60));
    if (window > absl::ZeroDuration()) {
      absl::SleepFor(kSettle);
      double before = statsd.SentBytes();
      absl::SleepFor(window);
      r.bytes_per_s_per_node = (statsd.SentBytes() - before) / absl::ToDoubleSeconds(window) / n;
    }
  }
  rpcs.clear();
  for (const Agent& a : agents) kill(a.pid, SIGKILL);
  for (const Agent& a : agents) waitpid(a.pid, nullptr, 0);
  std::remove(config.c_str());
  return r;
}

// Convergence varies run to run with the random gossip targets: repeat and
// report the median; bandwidth is measured once, after the last convergence.
Result Repeat(int reps, absl::Duration window, const std::function<Result(absl::Duration)>& once) {
  std::vector<double> times;
  Result last;
  for (int i = 0; i < reps; ++i) {
    last = once(i + 1 == reps ? window : absl::ZeroDuration());
    times.push_back(last.converge_s);
  }
  std::sort(times.begin(), times.end());
  last.converge_s = times[times.size() / 2];
  last.converge_min_s = times.front();
  last.converge_max_s = times.back();
  return last;
}

void Print(int n, const char* impl, const Result& r) {
  std::printf("%-6d %-8s %10.3f %10.3f %10.3f %14.1f\n", n, impl, r.converge_s, r.converge_min_s,
              r.converge_max_s, r.bytes_per_s_per_node);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"proglog-bench-discovery: our gossip vs real serf agents"};
  std::vector<int> sizes = {8, 16, 32};
  double window_s = 10;
  bool skip_serf = false;
  int reps = 5;
  app.add_option("--sizes", sizes, "cluster sizes");
  app.add_option("--window", window_s, "seconds of idle gossip to measure");
  app.add_flag("--skip-serf", skip_serf, "measure only our nodes");
  app.add_option("--reps", reps, "convergence runs per size (median printed)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  absl::Duration window = absl::Seconds(window_s);
  std::printf("%-6s %-8s %10s %10s %10s %14s\n", "nodes", "impl", "conv_med_s", "conv_min_s",
              "conv_max_s", "B/s/node idle");
  for (int n : sizes) {
    Print(n, "proglog", Repeat(reps, window, [n](absl::Duration w) { return RunOursOnce(n, w); }));
    if (skip_serf) continue;
    Print(n, "serf", Repeat(reps, window, [n](absl::Duration w) { return RunSerfOnce(n, w); }));
  }
  return 0;
}
