// Our gossip node and the real serf agent (Debian's /usr/bin/serf), each in
// its own process on loopback: joins both ways, tags, kill -9 both ways,
// graceful leave both ways, encryption, queries, and the read-only listing.
#include <csignal>
#include <sstream>

#include "core/discovery/membership.h"
#include "gtest/gtest.h"
#include "tests/discovery/serf_peers.h"

namespace proglog::discovery {
namespace {

using testing::GossipNode;
using testing::PollUntil;
using testing::SerfAgent;

// The bound for noticing a killed peer.
constexpr absl::Duration kFailureBound = absl::Seconds(30);
constexpr absl::Duration kWait = absl::Seconds(20);

bool SerfSees(const SerfAgent& agent, const std::string& name, const std::string& status) {
  auto view = agent.Members();
  auto it = view.find(name);
  return it != view.end() && it->second.status == status;
}

bool NodeSees(GossipNode& node, const std::string& name, const std::string& status) {
  auto view = node.Members();
  auto it = view.find(name);
  return it != view.end() && it->second.status == status;
}

TEST(SerfInteropTest, OurNodeJoinsAgentAndBothListEachOtherWithTags) {
  auto agent = SerfAgent::Start("agent", {"-tag", "role=web"});
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start(
      "ours", {"--tag", "rpc_addr=127.0.0.1:8400", "--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  auto view = agent->Members();
  EXPECT_EQ(view["ours"].tags["rpc_addr"], "127.0.0.1:8400");
  EXPECT_EQ(view["ours"].address, node->addr());
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*node, "agent", "alive"); }));
  EXPECT_EQ(node->Members()["agent"].tags["role"], "web");
  EXPECT_TRUE(node->SawEvent("member-join", "agent", kWait));
}

TEST(SerfInteropTest, AgentJoinsOurNode) {
  auto node = GossipNode::Start("ours", {"--tag", "rpc_addr=127.0.0.1:8401"});
  ASSERT_NE(node, nullptr);
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  std::string out = agent->Run("join", node->addr());
  EXPECT_NE(out.find("Successfully joined"), std::string::npos) << out;
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*node, "agent", "alive"); }));
}

TEST(SerfInteropTest, KilledNodeOfOursIsFailedInSerf) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  node->process().Kill(SIGKILL);
  absl::Time killed = absl::Now();
  ASSERT_TRUE(PollUntil(kFailureBound, [&] { return SerfSees(*agent, "ours", "failed"); }));
  std::printf("serf saw the killed node failed after %s\n",
              absl::FormatDuration(absl::Now() - killed).c_str());
}

TEST(SerfInteropTest, KilledAgentIsFailedForOurNode) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*node, "agent", "alive"); }));
  agent->process().Kill(SIGKILL);
  absl::Time killed = absl::Now();
  ASSERT_TRUE(node->SawEvent("member-failed", "agent", kFailureBound));
  std::printf("our node saw the killed agent failed after %s\n",
              absl::FormatDuration(absl::Now() - killed).c_str());
  EXPECT_TRUE(NodeSees(*node, "agent", "failed"));
}

TEST(SerfInteropTest, GracefulLeaveOfOurNodeIsLeftInSerf) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  ASSERT_TRUE(node->Leave());
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "left"); }));
}

TEST(SerfInteropTest, GracefulLeaveOfAgentIsLeftForOurNode) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*node, "agent", "alive"); }));
  agent->Run("leave");
  ASSERT_TRUE(node->SawEvent("member-leave", "agent", kWait));
  EXPECT_TRUE(NodeSees(*node, "agent", "left"));
  EXPECT_FALSE(node->SawEvent("member-failed", "agent", absl::ZeroDuration()));
}

TEST(SerfInteropTest, EncryptedNodeAndAgentInteroperateAndKeylessNodeIsNotAdmitted) {
  const std::string key = "5K9OtfOFP6Xk0jE6z5fDwkb/BYuZXh9F8SeOR9KgRXU=";
  auto agent = SerfAgent::Start("agent", {"-encrypt=" + key});
  ASSERT_NE(agent, nullptr);
  auto keyed = GossipNode::Start("keyed", {"--key", key, "--join", agent->gossip_addr()});
  auto keyless = GossipNode::Start("keyless");
  ASSERT_NE(keyed, nullptr);
  ASSERT_NE(keyless, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "keyed", "alive"); }));
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*keyed, "agent", "alive"); }));
  keyless->process().Write("join " + agent->gossip_addr());
  auto answer = keyless->process().WaitForLine("error", absl::Seconds(15));
  ASSERT_TRUE(answer.has_value()) << "a node without the key must not be able to join";
  EXPECT_EQ(agent->Members().count("keyless"), 0u);
  EXPECT_EQ(keyless->Members().count("agent"), 0u);
  auto raw = ParseGossipKey(key);
  ASSERT_TRUE(raw.ok());
  auto listed = ListMembers(agent->gossip_addr(), *raw);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
}

TEST(SerfInteropTest, ListMembersAsksAnAgentWithoutJoiningIt) {
  auto agent = SerfAgent::Start("agent", {"-tag", "role=web"});
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start(
      "ours", {"--tag", "rpc_addr=127.0.0.1:8402", "--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  auto listed = ListMembers(agent->gossip_addr(), "");
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, Member> by_name;
  for (const Member& m : *listed) by_name[m.name] = m;
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["ours"].tags["rpc_addr"], "127.0.0.1:8402");
  EXPECT_EQ(by_name["agent"].tags["role"], "web");
  EXPECT_EQ(by_name["agent"].status, MemberStatus::kAlive);
  EXPECT_EQ(agent->Members().size(), 2u);  // the listing did not add a member
}

TEST(SerfInteropTest, OurNodeAcksAgentQueries) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  std::string out = agent->Run("query", "-timeout=2s q1 payload");
  EXPECT_NE(out.find("Ack from 'ours'"), std::string::npos) << out;
}

// The `stats` line of a gossip node as numbers.
std::vector<uint64_t> NodeStats(GossipNode& node) {
  node.process().Write("stats");
  auto line = node.process().WaitForLine("stats ", absl::Seconds(5));
  std::vector<uint64_t> out;
  if (!line) return out;
  std::istringstream in(line->substr(6));
  uint64_t v;
  while (in >> v) out.push_back(v);
  return out;
}

TEST(SerfInteropTest, AgentUserEventsAndQueriesAreSeenOnceDespiteRegossip) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto a = GossipNode::Start("ours-a", {"--join", agent->gossip_addr()});
  auto b = GossipNode::Start("ours-b", {"--join", agent->gossip_addr()});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*a, "ours-b", "alive"); }));
  agent->Run("event", "deploy v1");
  agent->Run("event", "deploy v2");
  agent->Run("query", "-timeout=1s q1");
  // Each node hears every message several times (agent retransmits plus the
  // other node's re-gossip) but counts each once.
  for (GossipNode* node : {a.get(), b.get()}) {
    ASSERT_TRUE(PollUntil(kWait, [&] {
      auto s = NodeStats(*node);
      return s.size() == 6 && s[4] == 2 && s[5] == 1;
    }));
  }
  EXPECT_FALSE(PollUntil(absl::Seconds(2), [&] {
    auto s = NodeStats(*a);
    return s.size() != 6 || s[4] != 2 || s[5] != 1;
  }));
}

TEST(SerfInteropTest, ForceLeaveWithPruneErasesAFailedNodeEverywhere) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto survivor = GossipNode::Start("survivor", {"--join", agent->gossip_addr()});
  auto victim = GossipNode::Start("victim", {"--join", agent->gossip_addr()});
  ASSERT_NE(survivor, nullptr);
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return NodeSees(*survivor, "victim", "alive"); }));
  victim->process().Kill(SIGKILL);
  ASSERT_TRUE(survivor->SawEvent("member-failed", "victim", kFailureBound));
  agent->Run("force-leave", "-prune victim");
  ASSERT_TRUE(survivor->SawEvent("member-reap", "victim", kWait));
  EXPECT_EQ(survivor->Members().count("victim"), 0u);
  EXPECT_TRUE(PollUntil(kWait, [&] { return agent->Members().count("victim") == 0; }));
}

TEST(SerfInteropTest, TagUpdateOfOurNodeReachesSerf) {
  auto agent = SerfAgent::Start("agent");
  ASSERT_NE(agent, nullptr);
  auto node = GossipNode::Start("ours", {"--tag", "rpc_addr=a", "--join", agent->gossip_addr()});
  ASSERT_NE(node, nullptr);
  ASSERT_TRUE(PollUntil(kWait, [&] { return SerfSees(*agent, "ours", "alive"); }));
  node->process().Write("tags rpc_addr=b zone=z1");
  ASSERT_TRUE(PollUntil(kWait, [&] {
    auto view = agent->Members();
    return view["ours"].tags["rpc_addr"] == "b" && view["ours"].tags["zone"] == "z1";
  }));
}

}  // namespace
}  // namespace proglog::discovery
