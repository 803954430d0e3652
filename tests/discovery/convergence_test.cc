// Larger clusters: eight node processes converge and agree on a killed one;
// five nodes with LAN timings keep every healthy member alive for 60 s while
// 10% of UDP datagrams are dropped in each direction.
#include <csignal>

#include "gtest/gtest.h"
#include "tests/discovery/serf_peers.h"
#include "tests/discovery/test_cluster.h"

namespace proglog::discovery {
namespace {

using testing::GossipNode;
using testing::PollUntil;

TEST(ConvergenceTest, EightNodeProcessesConvergeAndDetectAKilledOne) {
  constexpr int kNodes = 8;
  constexpr int kVictim = 5;
  std::vector<std::unique_ptr<GossipNode>> nodes;
  absl::Time start = absl::Now();
  for (int i = 0; i < kNodes; ++i) {
    std::vector<std::string> args = {"--tag", "rpc_addr=127.0.0.1:" + std::to_string(9000 + i),
                                     "--seed", std::to_string(i + 1)};
    if (i > 0) args.insert(args.end(), {"--join", nodes[0]->addr()});
    nodes.push_back(GossipNode::Start("n" + std::to_string(i), args));
    ASSERT_NE(nodes.back(), nullptr);
  }
  auto all_see = [&](const std::string& status, int count, int skip) {
    for (int i = 0; i < kNodes; ++i) {
      if (i == skip) continue;
      int n = 0;
      for (const auto& [name, m] : nodes[i]->Members()) n += m.status == status ? 1 : 0;
      if (n != count) return false;
    }
    return true;
  };
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return all_see("alive", kNodes, -1); }));
  std::printf("8 nodes converged in %s\n", absl::FormatDuration(absl::Now() - start).c_str());
  for (const auto& [name, m] : nodes[7]->Members()) {
    EXPECT_EQ(m.tags.at("rpc_addr"),
              "127.0.0.1:" + std::to_string(9000 + std::stoi(name.substr(1))));
  }
  nodes[kVictim]->process().Kill(SIGKILL);
  absl::Time killed = absl::Now();
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return all_see("failed", 1, kVictim); }));
  std::printf("all 7 survivors saw the killed node failed after %s\n",
              absl::FormatDuration(absl::Now() - killed).c_str());
  for (int i = 0; i < kNodes; ++i) {
    if (i == kVictim) continue;
    EXPECT_EQ(nodes[i]->Members()["n5"].status, "failed");
    EXPECT_TRUE(nodes[i]->SawEvent("member-failed", "n5", absl::Seconds(1)));
  }
}

TEST(ConvergenceTest, TenPercentUdpLossDeclaresNoHealthyNodeFailedFor60s) {
  constexpr int kNodes = 5;
  std::vector<testing::TestNode> nodes;
  std::vector<Membership*> all;
  std::vector<std::string> names;
  for (int i = 0; i < kNodes; ++i) {
    Config c = testing::NodeConfig("lossy" + std::to_string(i), Timings{});  // LAN defaults
    c.faults.udp_drop_rate = 0.10;
    c.faults.seed = 100 + i;
    if (i > 0) c.start_join_addrs = {nodes[0]->Address()};
    nodes.push_back(testing::StartNode(c));
    all.push_back(nodes.back().membership.get());
    names.push_back(c.node_name);
  }
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return testing::AllSeeAlive(all, names); }));
  auto any_failure = [&] {
    for (const testing::TestNode& n : nodes) {
      if (n.events->Count(EventType::kFailed) > 0 || n.events->Count(EventType::kLeave) > 0) {
        return true;
      }
    }
    return false;
  };
  // The observation window itself: fail as soon as anyone is declared failed.
  EXPECT_FALSE(PollUntil(absl::Seconds(60), any_failure));
  EXPECT_TRUE(testing::AllSeeAlive(all, names));
  uint64_t dropped = 0;
  for (Membership* m : all) dropped += m->Stats().faults_injected;
  EXPECT_GT(dropped, 100u) << "the fault hook must really have dropped packets";
  std::printf("dropped %llu datagrams in 60 s, no false failure\n",
              static_cast<unsigned long long>(dropped));
}

}  // namespace
}  // namespace proglog::discovery
