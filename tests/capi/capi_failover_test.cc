// The load-balancing client of the C API against three real `proglog`
// processes on loopback: it is given one follower's address and finds the
// rest; a produce loop survives a SIGKILL of the leader; reads are spread over
// the followers (each node's own /metrics says how many it served); a
// subscription whose node is killed carries on elsewhere without gap or
// duplicate; a dead bootstrap address beside a live one does no harm.
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "proglog/proglog.h"
#include "tests/testing/free_port.h"
#include "tests/testing/scratch_dir.h"

namespace fs = std::filesystem;
using std::chrono::steady_clock;

namespace {

using proglog::testing::FreePort;
using proglog::testing::PortUse;

// One `proglog serve` process on fixed ports (so a restart keeps its
// addresses), its JSON log drained into a file.
class NodeProcess {
 public:
  NodeProcess(std::string name, fs::path dir)
      : name_(std::move(name)),
        dir_(std::move(dir)),
        rpc_port_(FreePort(PortUse::kTcp)),
        gossip_port_(FreePort(PortUse::kTcpAndUdp)),
        metrics_port_(FreePort(PortUse::kTcp)) {}
  ~NodeProcess() { Kill(); }

  std::string rpc_addr() const { return "127.0.0.1:" + std::to_string(rpc_port_); }
  std::string gossip_addr() const { return "127.0.0.1:" + std::to_string(gossip_port_); }
  const std::string& name() const { return name_; }
  bool running() const { return pid_ > 0; }

  void Start(const std::optional<std::string>& join) {
    const char* bin = std::getenv("PROGLOG_BIN");
    ASSERT_NE(bin, nullptr) << "PROGLOG_BIN must name the built proglog binary";
    std::vector<std::string> args = {bin,
                                     "--data-dir",
                                     (dir_ / name_).string(),
                                     "--node-name",
                                     name_,
                                     "--rpc-port",
                                     std::to_string(rpc_port_),
                                     "--bind-addr",
                                     gossip_addr(),
                                     "--metrics-addr",
                                     "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--log-format",
                                     "json"};
    if (join) {
      args.insert(args.end(), {"--start-join-addrs", *join});
    } else {
      args.emplace_back("--bootstrap");
    }
    const std::string log = (dir_ / (name_ + ".log")).string();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  // The node's log so far.
  std::string Log() const {
    std::ifstream in(dir_ / (name_ + ".log"));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Returns once the RPC port accepts connections (or after 30 s).
  void WaitListening() const {
    const auto deadline = steady_clock::now() + std::chrono::seconds(30);
    while (steady_clock::now() < deadline) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(rpc_port_));
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (up) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // The node's count of `method` calls handled, from its own /metrics.
  long Handled(const std::string& method) const {
    return Count("grpc_server_handled_total", method);
  }
  // The node's count of `method` calls started.
  long Started(const std::string& method) const {
    return Count("grpc_server_started_total", method);
  }

 private:
  long Count(const std::string& metric, const std::string& method) const {
    httplib::Client http("127.0.0.1", metrics_port_);
    auto response = http.Get("/metrics");
    if (!response || response->status != 200) return -1;
    const std::regex line(metric + "\\{[^}]*grpc_method=\"" + method + "\"[^}]*\\} ([0-9.e+]+)");
    long total = 0;
    for (std::sregex_iterator it(response->body.begin(), response->body.end(), line), end;
         it != end; ++it) {
      total += static_cast<long>(std::stod((*it)[1]));
    }
    return total;
  }

  std::string name_;
  fs::path dir_;
  int rpc_port_, gossip_port_, metrics_port_;
  pid_t pid_ = -1;
};

struct ClientDeleter {
  void operator()(proglog_client* client) const { proglog_client_free(client); }
};
using ClientPtr = std::unique_ptr<proglog_client, ClientDeleter>;

ClientPtr OpenClient(const std::vector<std::string>& addresses, int policy) {
  std::vector<const char*> pointers;
  for (const auto& address : addresses) pointers.push_back(address.c_str());
  proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
  opts.addresses = pointers.data();
  opts.address_count = pointers.size();
  opts.balance_policy = policy;
  opts.timeout_ms = 20000;
  opts.max_attempts = 100;  // an election may take a few hundred ms of refusals
  opts.max_backoff_ms = 200;
  proglog_client* client = nullptr;
  proglog_error* err = nullptr;
  EXPECT_EQ(proglog_client_open(&client, &opts, &err), PROGLOG_OK) << proglog_error_message(err);
  proglog_error_free(err);
  return ClientPtr(client);
}

// The value a node holds at `offset`, read from that node alone.
std::optional<std::string> ReadAt(proglog_client* pinned, uint64_t offset) {
  proglog_record* record = nullptr;
  if (proglog_client_consume(&record, pinned, offset, nullptr) != PROGLOG_OK) return std::nullopt;
  size_t len = 0;
  const void* data = proglog_record_value(record, &len);
  std::string value(static_cast<const char*>(data), len);
  proglog_record_free(record);
  return value;
}

class CapiFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"n1", "n2", "n3"}) {
      nodes_.push_back(std::make_unique<NodeProcess>(name, dir_));
    }
    ASSERT_NO_FATAL_FAILURE(nodes_[0]->Start(std::nullopt));
    for (size_t i = 1; i < nodes_.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(nodes_[i]->Start(nodes_[0]->gossip_addr()));
    }
    ASSERT_TRUE(WaitForServers(3)) << "no 3-node cluster with a leader and both joiners "
                                      "promoted within 60 s; node logs in "
                                   << dir_;
  }

  void TearDown() override {
    nodes_.clear();
    if (HasFailure()) scratch_.Keep();  // the node logs, to see why
  }

  // Waits until the cluster lists `count` servers, one of them the leader.
  bool WaitForServers(size_t count) {
    // A gRPC channel whose first connection attempt meets a port that is not
    // listening yet can take seconds to retry; wait for the port first.
    for (auto& node : nodes_) node->WaitListening();
    ClientPtr client = OpenClient({nodes_[0]->rpc_addr()}, PROGLOG_BALANCE_DEFAULT);
    const auto deadline = steady_clock::now() + std::chrono::seconds(60);
    while (steady_clock::now() < deadline) {
      proglog_server_list* list = nullptr;
      if (proglog_client_servers(&list, client.get(), nullptr) == PROGLOG_OK) {
        size_t leaders = 0;
        for (size_t i = 0; i < proglog_server_list_count(list); ++i) {
          leaders += proglog_server_list_is_leader(list, i);
        }
        const size_t seen = proglog_server_list_count(list);
        proglog_server_list_free(list);
        if (seen == count && leaders == 1 && JoinersPromoted()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Whether the bootstrapping node has promoted every joiner to voter (Raft
  // membership is not on the wire; the leader logs each promotion). Until then
  // a killed voter can leave the cluster without a majority.
  // Any node may have done it: under load the bootstrapping node can lose
  // leadership to the first joiner, which then promotes the second.
  bool JoinersPromoted() const {
    std::string logs;
    for (const auto& node : nodes_) logs += node->Log();
    for (size_t i = 1; i < nodes_.size(); ++i) {
      if (logs.find("raft: promoting " + nodes_[i]->name() + " ") == std::string::npos) {
        return false;
      }
    }
    return true;
  }

  NodeProcess* Leader() {
    for (auto& node : nodes_) {
      if (!node->running()) continue;
      ClientPtr pinned = OpenClient({node->rpc_addr()}, PROGLOG_BALANCE_PINNED);
      proglog_server_list* list = nullptr;
      if (proglog_client_servers(&list, pinned.get(), nullptr) != PROGLOG_OK) continue;
      std::string leader;
      for (size_t i = 0; i < proglog_server_list_count(list); ++i) {
        if (proglog_server_list_is_leader(list, i)) leader = proglog_server_list_rpc_addr(list, i);
      }
      proglog_server_list_free(list);
      for (auto& candidate : nodes_) {
        if (candidate->rpc_addr() == leader) return candidate.get();
      }
    }
    return nullptr;
  }

  NodeProcess* AFollower() {
    NodeProcess* leader = Leader();
    for (auto& node : nodes_) {
      if (node.get() != leader && node->running()) return node.get();
    }
    return nullptr;
  }

  // One directory per test, so a failed test's node logs outlive the next test.
  ::proglog::testing::ScratchDir scratch_;
  const fs::path dir_ = scratch_.path();
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

TEST_F(CapiFailoverTest, ProduceLoopThroughAFollowerSurvivesTheLeadersDeath) {
  NodeProcess* follower = AFollower();
  ASSERT_NE(follower, nullptr);
  ClientPtr client = OpenClient({follower->rpc_addr()}, PROGLOG_BALANCE_DEFAULT);
  constexpr int kRecords = 3000;
  constexpr int kKillAfter = 1000;
  std::map<uint64_t, std::string> acked;
  int outcome_unknown = 0;
  std::optional<steady_clock::time_point> killed_at;
  std::optional<double> failover_ms;
  NodeProcess* victim = nullptr;
  for (int i = 0; i < kRecords; ++i) {
    if (i == kKillAfter) {
      victim = Leader();
      ASSERT_NE(victim, nullptr);
      victim->Kill();
      killed_at = steady_clock::now();
    }
    const std::string value = "record-" + std::to_string(i);
    uint64_t offset = 0;
    proglog_error* err = nullptr;
    const auto started = steady_clock::now();
    const int rc = proglog_client_produce(&offset, client.get(), value.data(), value.size(), &err);
    if (rc != PROGLOG_OK) {
      // The client retried for 20 s; a failure here is a failure of the client,
      // unless its outcome is unknown (the answer was lost with the leader).
      EXPECT_EQ(proglog_error_outcome_unknown(err), 1)
          << i << ": " << proglog_code_name(rc) << " " << proglog_error_message(err) << " after "
          << std::chrono::duration<double>(steady_clock::now() - started).count() << " s";
      outcome_unknown += proglog_error_outcome_unknown(err);
      proglog_error_free(err);
      continue;
    }
    if (killed_at && !failover_ms) {
      failover_ms =
          std::chrono::duration<double, std::milli>(steady_clock::now() - *killed_at).count();
    }
    EXPECT_TRUE(acked.emplace(offset, value).second) << "offset " << offset << " given twice";
  }
  std::printf("acknowledged %zu of %d; outcome unknown %d; kill to first success %.0f ms\n",
              acked.size(), kRecords, outcome_unknown, failover_ms.value_or(-1));
  EXPECT_GE(acked.size(), static_cast<size_t>(kRecords - 5));

  // The killed node comes back and catches up; then every node holds every
  // acknowledged record at its offset.
  ASSERT_NO_FATAL_FAILURE(victim->Start(nodes_[0].get() == victim ? nodes_[1]->gossip_addr()
                                                                  : nodes_[0]->gossip_addr()));
  const uint64_t last = acked.rbegin()->first;
  for (auto& node : nodes_) {
    ClientPtr pinned = OpenClient({node->rpc_addr()}, PROGLOG_BALANCE_PINNED);
    const auto deadline = steady_clock::now() + std::chrono::seconds(60);
    while (!ReadAt(pinned.get(), last) && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    size_t matching = 0;
    for (const auto& [offset, value] : acked) {
      const std::optional<std::string> held = ReadAt(pinned.get(), offset);
      EXPECT_EQ(held, value) << node->name() << " at offset " << offset;
      if (held == value) ++matching;
      if (held != value && ::testing::Test::HasFailure() && matching + 10 < offset) break;
    }
    EXPECT_EQ(matching, acked.size()) << node->name();
  }
}

TEST_F(CapiFailoverTest, ReadsAreSpreadOverTheFollowers) {
  ClientPtr client = OpenClient({nodes_[0]->rpc_addr()}, PROGLOG_BALANCE_FOLLOWER_READS);
  uint64_t offset = 0;
  ASSERT_EQ(proglog_client_produce(&offset, client.get(), "x", 1, nullptr), PROGLOG_OK);
  NodeProcess* leader = Leader();
  ASSERT_NE(leader, nullptr);
  // Followers apply a commit on the leader's next heartbeat; until then a read
  // there is answered by the leader. Wait for both to hold the record.
  for (auto& node : nodes_) {
    ClientPtr pinned = OpenClient({node->rpc_addr()}, PROGLOG_BALANCE_PINNED);
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (!ReadAt(pinned.get(), offset) && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::map<std::string, long> before;
  for (auto& node : nodes_) before[node->name()] = node->Handled("Consume");
  constexpr int kReads = 200;
  for (int i = 0; i < kReads; ++i) {
    proglog_record* record = nullptr;
    ASSERT_EQ(proglog_client_consume(&record, client.get(), offset, nullptr), PROGLOG_OK);
    proglog_record_free(record);
  }
  for (auto& node : nodes_) {
    const long served = node->Handled("Consume") - before[node->name()];
    std::printf("%s (%s) served %ld of %d reads\n", node->name().c_str(),
                node.get() == leader ? "leader" : "follower", served, kReads);
    if (node.get() == leader) {
      EXPECT_EQ(served, 0) << "the leader served reads meant for followers";
    } else {
      EXPECT_GE(served, kReads / 2 - 10) << node->name() << " did not get its share";
    }
  }
}

TEST_F(CapiFailoverTest, SubscriptionCarriesOnWhenItsNodeIsKilled) {
  ClientPtr client = OpenClient({nodes_[0]->rpc_addr()}, PROGLOG_BALANCE_FOLLOWER_READS);
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      const std::string value = "s" + std::to_string(i);
      uint64_t offset = 0;
      ASSERT_EQ(proglog_client_produce(&offset, client.get(), value.data(), value.size(), nullptr),
                PROGLOG_OK);
      ASSERT_EQ(offset, static_cast<uint64_t>(i));
    }
  };
  ASSERT_NO_FATAL_FAILURE(produce(0, 100));
  proglog_subscription* sub = nullptr;
  ASSERT_EQ(proglog_client_subscribe(&sub, client.get(), 0, nullptr), PROGLOG_OK);
  auto expect_next = [&](int i) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    ASSERT_EQ(proglog_subscription_next(&record, sub, 30000, &err), PROGLOG_OK)
        << "at " << i << ": " << proglog_error_message(err);
    size_t len = 0;
    const void* data = proglog_record_value(record, &len);
    EXPECT_EQ(proglog_record_offset(record), static_cast<uint64_t>(i));
    EXPECT_EQ(std::string(static_cast<const char*>(data), len), "s" + std::to_string(i));
    proglog_record_free(record);
  };
  for (int i = 0; i < 50; ++i) ASSERT_NO_FATAL_FAILURE(expect_next(i));
  // The node serving the stream is the one that started a ConsumeBatchStream.
  NodeProcess* serving = nullptr;
  for (auto& node : nodes_) {
    if (node->Started("ConsumeBatchStream") > 0) serving = node.get();
  }
  std::string started;
  for (auto& node : nodes_) {
    started += node->name() + ": " + std::to_string(node->Started("ConsumeBatchStream")) + " " +
               std::to_string(node->Started("ConsumeStream")) + "; ";
  }
  ASSERT_NE(serving, nullptr) << "ConsumeBatchStream and ConsumeStream started: " << started;
  ASSERT_NE(serving, Leader()) << "the stream should have gone to a follower";
  serving->Kill();
  // Two nodes of three still commit: new records arrive too.
  ASSERT_NO_FATAL_FAILURE(produce(100, 150));
  for (int i = 50; i < 150; ++i) ASSERT_NO_FATAL_FAILURE(expect_next(i));
  proglog_subscription_free(sub);
}

TEST_F(CapiFailoverTest, DeadBootstrapAddressBesideALiveOneIsHarmless) {
  const std::string dead = "127.0.0.1:" + std::to_string(FreePort(PortUse::kTcp));
  ClientPtr client = OpenClient({dead, nodes_[1]->rpc_addr()}, PROGLOG_BALANCE_DEFAULT);
  uint64_t offset = 0;
  proglog_error* err = nullptr;
  ASSERT_EQ(proglog_client_produce(&offset, client.get(), "v", 1, &err), PROGLOG_OK)
      << proglog_error_message(err);
  proglog_record* record = nullptr;
  ASSERT_EQ(proglog_client_consume(&record, client.get(), offset, &err), PROGLOG_OK)
      << proglog_error_message(err);
  proglog_record_free(record);
}

}  // namespace
