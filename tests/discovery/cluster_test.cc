// In-process clusters of our nodes on loopback: joining, tags, leave, failure,
// reaping, encryption, start-join retries, the read-only member listing and
// the event thread.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "core/discovery/messages.h"
#include "core/discovery/packet.h"
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

// Sends `data` to a node's gossip port over UDP, or over a fresh TCP connection.
void SendUdp(int port, const std::string& data) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  close(fd);
}
void SendTcp(int port, const std::string& data) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    (void)n;
    shutdown(fd, SHUT_WR);  // the node sees EOF mid-message
  }
  close(fd);
}

TEST(ClusterTest, MalformedPacketsAreDroppedAndCountedAndTheNodeKeepsWorking) {
  TestNode a = StartNode(NodeConfig("a"));
  TestNode b = StartNode(NodeConfig("b"));
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  int port = std::stoi(a->Address().substr(a->Address().rfind(':') + 1));
  uint64_t dropped_before = a->Stats().packets_dropped;
  std::mt19937 rng(7);
  std::vector<std::string> junk = {
      std::string(1, '\x0e'),  // unknown type
      std::string("\xf4\x03"
                  "abc\x00",
                  6),                                  // a label this protocol lacks
      std::string("\x07\x02\x00\x05", 4),              // compound cut short
      std::string("\x0c\xde\xad\xbe\xef\x00\x80", 7),  // wrong CRC
      std::string("\x09\x82\xa4"
                  "Algo\x00\xa3"
                  "Buf\xa2\xff\xff",
                  16),                         // bad LZW
      std::string("\x04\x81\xa4Node\x80", 8),  // alive whose Node is a map
      std::string(65000, '\x04'),              // oversized
  };
  for (int i = 0; i < 50; ++i) {
    std::string noise(1 + rng() % 300, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    junk.push_back(noise);
  }
  for (const std::string& j : junk) SendUdp(port, j);
  // TCP: garbage, an unknown stream type, a truncated push/pull, an encrypted
  // message to a node without a key.
  SendTcp(port, "GET / HTTP/1.1\r\n\r\n");
  SendTcp(port, std::string("\x06\x83\xa4Join", 7));
  SendTcp(port, std::string("\x0a\xff\xff\xff\xff", 5));
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return a->Stats().packets_dropped >= dropped_before + junk.size() + 3;
  })) << a->Stats().packets_dropped - dropped_before;
  // Still a healthy member that answers probes, gossip and push/pull.
  TestNode c = StartNode(NodeConfig("c"));
  ASSERT_TRUE(c->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a.membership.get(), b.membership.get(), c.membership.get()},
                       {"a", "b", "c"});
  }));
  EXPECT_FALSE(b.events->Has(EventType::kFailed, "a"));
}

int PortOf(const std::string& addr) { return std::stoi(addr.substr(addr.rfind(':') + 1)); }

TEST(ClusterTest, IndirectProbesThroughPeersKeepAUdpCutOffNodeAlive) {
  TestNode b = StartNode(NodeConfig("b"));
  TestNode c = StartNode(NodeConfig("c"));
  TestNode d = StartNode(NodeConfig("d"));
  auto a_config = NodeConfig("a");
  a_config.timings.disable_tcp_pings = true;  // only indirect probes can save c
  a_config.faults.blocked_udp_ports = {static_cast<uint16_t>(PortOf(c->Address()))};
  TestNode a = StartNode(a_config);
  ASSERT_TRUE(b->Join({a->Address()}).ok());  // push/pull is TCP, so c can join through a
  ASSERT_TRUE(c->Join({a->Address()}).ok());
  ASSERT_TRUE(d->Join({a->Address()}).ok());
  ASSERT_TRUE(PollUntil(kWait, [&] {
    return AllSeeAlive({a.membership.get(), b.membership.get()}, {"a", "b", "c", "d"});
  }));
  // Twenty probe rounds: a probes c several times and never gets a direct ack.
  uint64_t failed_before = a->Stats().probes_failed;
  EXPECT_FALSE(PollUntil(absl::Seconds(4), [&] {
    return a->Stats().probes_failed > failed_before || a.events->Has(EventType::kFailed, "c");
  }));
  EXPECT_GT(a->Stats().faults_injected, 10u) << "the a-c link must really be cut";
  EXPECT_EQ(StatusOf(*a.membership, "c"), MemberStatus::kAlive);
}

TEST(ClusterTest, NodeCutOffFromEveryoneByUdpIsDeclaredFailedWithoutTcpPings) {
  TestNode b = StartNode(NodeConfig("b"));
  auto a_config = NodeConfig("a");
  a_config.timings.disable_tcp_pings = true;
  a_config.faults.blocked_udp_ports = {static_cast<uint16_t>(PortOf(b->Address()))};
  TestNode a = StartNode(a_config);
  ASSERT_TRUE(b->Join({a->Address()}).ok());
  // With no third node to relay, a's probes of b must fail: the control case
  // for the test above.
  ASSERT_TRUE(PollUntil(kWait, [&] { return a->Stats().probes_failed > 0; }));
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
