// In-process clusters of our nodes on loopback: joining, tags, leave, failure,
// reaping, encryption, start-join retries, the read-only member listing and
// the event thread.
#include "gtest/gtest.h"
#include "tests/discovery/process.h"
#include "tests/discovery/test_cluster.h"

namespace proglog::discovery {
namespace {

using testing::AllSeeAlive;
using testing::NodeConfig;
using testing::PollUntil;
using testing::StartNode;
using testing::StatusOf;
using testing::TestNode;

constexpr absl::Duration kWait = absl::Seconds(20);

TEST(ClusterTest, ThreeNodesConvergeAndLearnEachOthersTags) {
  TestNode a = StartNode(NodeConfig("a"));
  TestNode b = StartNode(NodeConfig("b"));
  auto c_config = NodeConfig("c");
  c_config.start_join_addrs = {b->Address()};
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  TestNode c = StartNode(c_config);
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a.membership.get(), b.membership.get(), c.membership.get()},
                       {"a", "b", "c"});
  }));
  for (const Member& m : a->Members()) {
    EXPECT_EQ(m.tags.at("rpc_addr"), "127.0.0.1:8401") << m.name;
  }
  EXPECT_TRUE(a.events->Has(EventType::kJoin, "c"));
  EXPECT_TRUE(c.events->Has(EventType::kJoin, "a"));
}

TEST(ClusterTest, TagChangeArrivesAsUpdateEvent) {
  TestNode a = StartNode(NodeConfig("a"));
  TestNode b = StartNode(NodeConfig("b"));
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return StatusOf(*a.membership, "b").has_value(); }));
  ASSERT_TRUE(b->SetTags({{"rpc_addr", "127.0.0.1:9999"}}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return a.events->Has(EventType::kUpdate, "b"); }));
  for (const Member& m : a->Members()) {
    if (m.name == "b") {
      EXPECT_EQ(m.tags.at("rpc_addr"), "127.0.0.1:9999");
    }
  }
  std::map<std::string, std::string> huge{{"k", std::string(600, 'x')}};
  EXPECT_EQ(b->SetTags(huge).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClusterTest, GracefulLeaveIsSeenAsLeftNotFailed) {
  TestNode a = StartNode(NodeConfig("a"));
  TestNode b = StartNode(NodeConfig("b"));
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return AllSeeAlive({a.membership.get()}, {"b"}); }));
  ASSERT_TRUE(b->Leave().ok());
  b->Shutdown();
  ASSERT_TRUE(
      PollUntil(kWait, [&] { return StatusOf(*a.membership, "b") == MemberStatus::kLeft; }));
  EXPECT_TRUE(a.events->Has(EventType::kLeave, "b"));
  EXPECT_FALSE(a.events->Has(EventType::kFailed, "b"));
}

TEST(ClusterTest, SilentNodeIsDeclaredFailedThenReaped) {
  auto timings = testing::FastTimings();
  timings.reconnect_timeout = absl::Seconds(2);
  timings.reap_interval = absl::Milliseconds(200);
  TestNode a = StartNode(NodeConfig("a", timings));
  TestNode b = StartNode(NodeConfig("b"));
  TestNode c = StartNode(NodeConfig("c"));
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  ASSERT_TRUE(c->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return AllSeeAlive({a.membership.get()}, {"b", "c"}); }));
  c->Shutdown();  // no leave: looks like a crash
  ASSERT_TRUE(PollUntil(kWait, [&] { return a.events->Has(EventType::kFailed, "c"); }));
  ASSERT_TRUE(
      PollUntil(kWait, [&] { return StatusOf(*b.membership, "c") == MemberStatus::kFailed; }));
  ASSERT_TRUE(PollUntil(kWait, [&] { return a.events->Has(EventType::kReap, "c"); }));
  EXPECT_FALSE(StatusOf(*a.membership, "c").has_value());
  EXPECT_EQ(StatusOf(*a.membership, "b"), MemberStatus::kAlive);
}

TEST(ClusterTest, RestartedNodeWithSameNameRejoinsByRefutation) {
  TestNode a = StartNode(NodeConfig("a"));
  auto b_config = NodeConfig("b");
  b_config.bind_addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  TestNode b = StartNode(b_config);
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return AllSeeAlive({a.membership.get()}, {"b"}); }));
  b->Shutdown();
  ASSERT_TRUE(
      PollUntil(kWait, [&] { return StatusOf(*a.membership, "b") == MemberStatus::kFailed; }));
  b.membership.reset();
  b_config.start_join_addrs = {a->Address()};
  TestNode b2 = StartNode(b_config);
  ASSERT_TRUE(
      PollUntil(kWait, [&] { return StatusOf(*a.membership, "b") == MemberStatus::kAlive; }));
  ASSERT_TRUE(PollUntil(kWait, [&] { return AllSeeAlive({b2.membership.get()}, {"a", "b"}); }));
}

TEST(ClusterTest, StartJoinIsRetriedUntilTheSeedAnswers) {
  int port = testing::FreePort();
  auto b_config = NodeConfig("b");
  b_config.start_join_addrs = {"127.0.0.1:" + std::to_string(port)};
  TestNode b = StartNode(b_config);
  // Nobody listens yet; b keeps retrying in the background.
  EXPECT_FALSE(StatusOf(*b.membership, "a").has_value());
  auto a_config = NodeConfig("a");
  a_config.bind_addr = b_config.start_join_addrs[0];
  TestNode a = StartNode(a_config);
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a.membership.get(), b.membership.get()}, {"a", "b"});
  }));
}

TEST(ClusterTest, EncryptedClusterAdmitsOnlyNodesWithTheKey) {
  auto key = ParseGossipKey("5K9OtfOFP6Xk0jE6z5fDwkb/BYuZXh9F8SeOR9KgRXU=");
  ASSERT_TRUE(key.ok());
  auto a_config = NodeConfig("a"), b_config = NodeConfig("b"), c_config = NodeConfig("c");
  a_config.encrypt_key = b_config.encrypt_key = *key;
  c_config.encrypt_key = std::string(32, 'w');  // the wrong key
  TestNode a = StartNode(a_config);
  TestNode b = StartNode(b_config);
  TestNode c = StartNode(c_config);
  TestNode d = StartNode(NodeConfig("d"));  // no key at all
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  EXPECT_FALSE(c->Join({a->Address()}).ok());
  EXPECT_FALSE(d->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a.membership.get(), b.membership.get()}, {"a", "b"});
  }));
  EXPECT_FALSE(StatusOf(*a.membership, "c").has_value());
  EXPECT_FALSE(StatusOf(*a.membership, "d").has_value());
  EXPECT_GT(a->Stats().packets_dropped, 0u);
  auto listed = ListMembers(a->Address(), *key);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_FALSE(ListMembers(a->Address(), "").ok());
}

TEST(ClusterTest, ListMembersReturnsTheRemoteViewWithoutJoining) {
  TestNode a = StartNode(NodeConfig("a"));
  TestNode b = StartNode(NodeConfig("b"));
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] { return AllSeeAlive({a.membership.get()}, {"a", "b"}); }));
  auto listed = ListMembers(a->Address(), "");
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, Member> by_name;
  for (const Member& m : *listed) by_name[m.name] = m;
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["b"].address, b->Address());
  EXPECT_EQ(by_name["b"].tags.at("rpc_addr"), "127.0.0.1:8401");
  EXPECT_EQ(by_name["b"].status, MemberStatus::kAlive);
  EXPECT_EQ(a->Members().size(), 2u);  // the lister did not become a member
  EXPECT_EQ(ListMembers("127.0.0.1", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ListMembers("127.0.0.1:" + std::to_string(testing::FreePort()), "").ok());
}

TEST(ClusterTest, SlowEventHandlerDoesNotStallGossip) {
  absl::Mutex mu;
  bool release = false;
  int handled = 0;
  auto a_config = NodeConfig("a");
  auto a = Membership::Start(a_config, [&](const MemberEvent&) {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&release));  // blocks until the test lets go
    ++handled;
  });
  ASSERT_TRUE(a.ok());
  TestNode b = StartNode(NodeConfig("b"));
  TestNode c = StartNode(NodeConfig("c"));
  ASSERT_TRUE(b->Join({(*a)->Address()}).ok());
  ASSERT_TRUE(c->Join({(*a)->Address()}).ok());
  // a's handler is stuck on its first event, yet a keeps gossiping and probing.
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a->get(), b.membership.get(), c.membership.get()}, {"a", "b", "c"});
  }));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(handled, 0);
    release = true;
  }
  ASSERT_TRUE(PollUntil(kWait, [&] {
    absl::MutexLock lock(&mu);
    return handled >= 3;  // its own join, then b and c
  }));
  (*a)->Shutdown();
}

TEST(ClusterTest, BadConfigIsRejectedWithAClearError) {
  auto c = NodeConfig("");
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  c = NodeConfig("x");
  c.bind_addr = "not-an-address";
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  c = NodeConfig("x");
  c.encrypt_key = "short";
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  c = NodeConfig("x");
  c.start_join_addrs = {"127.0.0.1:99999"};
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  c = NodeConfig("x");
  c.bind_addr = "0.0.0.0:0";
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  TestNode a = StartNode(NodeConfig("a"));
  c = NodeConfig("x");
  c.bind_addr = a->Address();  // taken
  EXPECT_EQ(Membership::Start(c, nullptr).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace proglog::discovery
