// The Raft TCP transport between real muxes on loopback: messages with every
// field cross in both directions, in plaintext and over mutual TLS; a
// transport of another cluster is refused and counted; an unknown peer and a
// full queue drop instead of blocking; a restarted peer is redialed; frames
// larger than the socket buffer arrive whole and in order.
#include "core/mux/raft_transport.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/mux/mux.h"
#include "core/security/tls_config.h"
#include "gtest/gtest.h"
#include "tests/security/pki_fixture.h"
#include "tests/testing/poll_until.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::mux {
namespace {

using ::proglog::testing::ScratchDir;
using raft::Entry;
using raft::EntryType;
using raft::Message;
using raft::MessageType;
using security::HandshakeSide;
using security::SslCtxPtr;
using security::TlsRole;
using security::testing::Pki;

using ::proglog::testing::PollUntil;

Message Append(uint64_t from, uint64_t to, uint64_t index) {
  Message m;
  m.type = MessageType::kAppend;
  m.from = from;
  m.to = to;
  m.term = 7;
  m.log_term = 6;
  m.index = index;
  m.commit = index;
  m.entries = {Entry{index + 1, 7, EntryType::kNormal, "record-" + std::to_string(index)},
               Entry{index + 2, 7, EntryType::kConfChange, std::string(1000, 'c')}};
  m.snapshot.conf.voters = {1, 2};
  m.chunk = "chunk";
  m.last_chunk = true;
  return m;
}

// Where each node id listens, as gossip would report it.
class Directory {
 public:
  void Set(uint64_t id, std::string address) {
    absl::MutexLock lock(&mu_);
    addresses_[id] = std::move(address);
  }
  std::optional<std::string> Get(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto it = addresses_.find(id);
    if (it == addresses_.end()) return std::nullopt;
    return it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<uint64_t, std::string> addresses_;
};

// One node's networking: a mux on its own port and a transport fed by it.
class TestNode {
 public:
  TestNode(uint64_t id, uint64_t cluster, Directory* directory, SSL_CTX* accept_tls,
           SSL_CTX* dial_tls, int port = 0, size_t max_queued = 1024) {
    Options options;
    options.address = "127.0.0.1:" + std::to_string(port);
    options.raft_tls = accept_tls;
    auto mux = Mux::Listen(options);
    EXPECT_TRUE(mux.ok()) << mux.status();
    mux_ = *std::move(mux);
    directory->Set(id, "127.0.0.1:" + std::to_string(mux_->Port()));
    RaftTransportOptions t;
    t.node_id = id;
    t.cluster_id = cluster;
    t.resolve = [directory](uint64_t peer) { return directory->Get(peer); };
    t.deliver = [this](Message m) {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &held_));
      inbox_.push_back(std::move(m));
    };
    t.delivered = [this] {
      absl::MutexLock lock(&mu_);
      ++delivered_calls_;
      delivered_before_call_ = inbox_.size();
    };
    t.dial_tls = dial_tls;
    t.max_queued_messages = max_queued;
    t.on_cluster_id = [this](uint64_t cluster_id) {
      absl::MutexLock lock(&mu_);
      adopted_.push_back(cluster_id);
    };
    transport_ = std::make_unique<RaftTransport>(t);
    EXPECT_TRUE(mux_->Start(nullptr,
                            [this](std::unique_ptr<Stream> s) { transport_->Accept(std::move(s)); })
                    .ok());
  }
  ~TestNode() {
    mux_->Shutdown();
    transport_->Close();
  }

  RaftTransport& transport() { return *transport_; }
  Mux& mux() { return *mux_; }
  std::vector<Message> Inbox() {
    absl::MutexLock lock(&mu_);
    return inbox_;
  }
  size_t InboxSize() {
    absl::MutexLock lock(&mu_);
    return inbox_.size();
  }
  // While held, the reader thread stops in `deliver`: the connection's
  // buffers fill up and the sending side's writes stop taking everything.
  void Hold(bool held) {
    absl::MutexLock lock(&mu_);
    held_ = held;
  }
  // How often the `delivered` hook ran, and how many messages had arrived
  // when it last did.
  std::pair<size_t, size_t> DeliveredCalls() {
    absl::MutexLock lock(&mu_);
    return {delivered_calls_, delivered_before_call_};
  }
  // Cluster ids the transport reported adopting (written on a reader thread,
  // read once the test has seen the message that caused it).
  std::vector<uint64_t> Adopted() {
    absl::MutexLock lock(&mu_);
    return adopted_;
  }

 private:
  std::unique_ptr<Mux> mux_;
  std::unique_ptr<RaftTransport> transport_;
  absl::Mutex mu_;
  std::vector<Message> inbox_;
  std::vector<uint64_t> adopted_;
  bool held_ = false;
  size_t delivered_calls_ = 0;
  size_t delivered_before_call_ = 0;
};

void ExpectExchange(TestNode& a, TestNode& b) {
  for (uint64_t i = 0; i < 100; ++i) a.transport().Send(Append(1, 2, i));
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.from = 2;
  reply.to = 1;
  reply.term = 7;
  reply.index = 99;
  reply.reject = true;
  reply.reject_hint = 40;
  reply.hint_term = 5;
  b.transport().Send(reply);
  ASSERT_TRUE(PollUntil([&] { return b.InboxSize() == 100 && a.InboxSize() == 1; }))
      << b.InboxSize() << " " << a.InboxSize();
  std::vector<Message> got = b.Inbox();
  for (uint64_t i = 0; i < 100; ++i) {
    Message want = Append(1, 2, i);
    EXPECT_EQ(got[i].index, want.index) << "in order";
    EXPECT_EQ(got[i].entries, want.entries);
    EXPECT_EQ(got[i].snapshot, want.snapshot);
    EXPECT_EQ(got[i].chunk, want.chunk);
    EXPECT_TRUE(got[i].last_chunk);
  }
  Message back = a.Inbox()[0];
  EXPECT_EQ(back.type, MessageType::kAppendResponse);
  EXPECT_TRUE(back.reject);
  EXPECT_EQ(back.reject_hint, 40u);
  EXPECT_EQ(back.hint_term, 5u);
}

TEST(RaftTransport, PlaintextPeersExchangeMessagesThroughTheMux) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr);
  TestNode b(2, 9, &directory, nullptr, nullptr);
  ExpectExchange(a, b);
  EXPECT_EQ(a.transport().GetStats().sent, 100u);
  EXPECT_EQ(b.transport().GetStats().received, 100u);
  EXPECT_EQ(a.mux().GetStats().raft, 1u);
  // The hook runs after the messages of a read, so the last run saw all 100.
  ASSERT_TRUE(PollUntil([&] { return b.DeliveredCalls().second == 100; }));
  EXPECT_GE(b.DeliveredCalls().first, 1u);
  EXPECT_LE(b.DeliveredCalls().first, 100u);
}

// Frames far larger than the socket takes at once, sent while the receiver
// does not read: the sending thread writes what it can without blocking and
// the sender thread the rest, before any later message, so every frame
// arrives whole and in order once the receiver reads again.
TEST(RaftTransport, FramesLargerThanTheSocketBufferArriveWholeAndInOrder) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr);
  TestNode b(2, 9, &directory, nullptr, nullptr);
  a.transport().Send(Append(1, 2, 0));  // connects: later sends start on the caller's thread
  ASSERT_TRUE(PollUntil([&] { return b.InboxSize() == 1; }));
  constexpr uint64_t kLarge = 40;
  auto large = [](uint64_t i) {
    Message m = Append(1, 2, i);
    m.entries[1].data = std::string(512 << 10, static_cast<char>('a' + i % 26));
    return m;
  };
  b.Hold(true);
  for (uint64_t i = 1; i <= kLarge; ++i) {
    a.transport().Send(large(i));
    if (i % 8 == 0) a.transport().Send(Append(1, 2, 1000 + i));  // small ones in between
  }
  // Well within the sender thread's write timeout (2 s), which would drop the connection.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  b.Hold(false);
  const size_t total = 1 + kLarge + kLarge / 8;
  ASSERT_TRUE(PollUntil([&] { return b.InboxSize() == total; }, std::chrono::seconds(30)))
      << b.InboxSize() << " of " << total;
  std::vector<Message> got = b.Inbox();
  size_t at = 1;
  for (uint64_t i = 1; i <= kLarge; ++i) {
    EXPECT_EQ(got[at].index, i) << "in order";
    EXPECT_EQ(got[at].entries, large(i).entries) << "whole";
    ++at;
    if (i % 8 == 0) {
      EXPECT_EQ(got[at].index, 1000 + i);
      ++at;
    }
  }
  EXPECT_EQ(a.transport().GetStats().sent, total);
  EXPECT_EQ(a.transport().GetStats().dropped_broken, 0u);
}

TEST(RaftTransport, MutualTlsPeersExchangeMessagesThroughTheMux) {
  ScratchDir dir;
  Pki pki(dir.path());
  auto a_config = security::TlsConfig::Load(TlsRole::kPeer, pki.Issue(TlsRole::kPeer, "node-1"));
  auto b_config = security::TlsConfig::Load(TlsRole::kPeer, pki.Issue(TlsRole::kPeer, "node-2"));
  ASSERT_TRUE(a_config.ok() && b_config.ok());
  SslCtxPtr a_accept = *security::NewPeerSslContext(*a_config, HandshakeSide::kAccept);
  SslCtxPtr a_dial = *security::NewPeerSslContext(*a_config, HandshakeSide::kConnect);
  SslCtxPtr b_accept = *security::NewPeerSslContext(*b_config, HandshakeSide::kAccept);
  SslCtxPtr b_dial = *security::NewPeerSslContext(*b_config, HandshakeSide::kConnect);
  Directory directory;
  TestNode a(1, 9, &directory, a_accept.get(), a_dial.get());
  TestNode b(2, 9, &directory, b_accept.get(), b_dial.get());
  ExpectExchange(a, b);
  EXPECT_EQ(b.mux().GetStats().raft, 1u);
  EXPECT_EQ(b.mux().GetStats().raft_tls_refused, 0u);
}

TEST(RaftTransport, MessagesForAnotherClusterAreRefusedAndCounted) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr);
  TestNode stranger(3, 10, &directory, nullptr, nullptr);
  stranger.transport().Send(Append(3, 1, 0));
  EXPECT_TRUE(PollUntil([&] { return a.transport().GetStats().wrong_cluster >= 1; }));
  EXPECT_EQ(a.InboxSize(), 0u);
}

TEST(RaftTransport, NodeWithoutClusterIdAdoptsTheFirstAndRefusesOthers) {
  Directory directory;
  TestNode fresh(1, kAnyCluster, &directory, nullptr, nullptr);
  TestNode leader(2, 9, &directory, nullptr, nullptr);
  TestNode stranger(3, 10, &directory, nullptr, nullptr);
  leader.transport().Send(Append(2, 1, 0));
  ASSERT_TRUE(PollUntil([&] { return fresh.InboxSize() == 1; }));
  EXPECT_EQ(fresh.transport().ClusterId(), 9u);
  EXPECT_EQ(fresh.Adopted(), std::vector<uint64_t>{9});

  stranger.transport().Send(Append(3, 1, 0));
  EXPECT_TRUE(PollUntil([&] { return fresh.transport().GetStats().wrong_cluster >= 1; }));
  EXPECT_EQ(fresh.InboxSize(), 1u);
  EXPECT_EQ(fresh.transport().ClusterId(), 9u);
  EXPECT_EQ(fresh.Adopted(), std::vector<uint64_t>{9});

  // It now sends with the adopted id, so its own cluster accepts its replies.
  fresh.transport().Send(Append(1, 2, 0));
  EXPECT_TRUE(PollUntil([&] { return leader.InboxSize() == 1; }));
  EXPECT_EQ(leader.transport().GetStats().wrong_cluster, 0u);
}

TEST(RaftTransport, MessageForAnotherNodeIdIsDropped) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr);
  TestNode b(2, 9, &directory, nullptr, nullptr);
  directory.Set(5, directory.Get(2).value());  // a stale address: node 5 is not there
  a.transport().Send(Append(1, 5, 0));
  EXPECT_TRUE(PollUntil([&] { return b.transport().GetStats().misaddressed == 1; }));
  EXPECT_EQ(b.InboxSize(), 0u);
}

TEST(RaftTransport, UnknownPeerAndUnreachablePeerDropWithoutBlocking) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr, 0, /*max_queued=*/64);
  a.transport().Send(Append(1, 42, 0));  // nobody knows node 42
  EXPECT_TRUE(PollUntil([&] { return a.transport().GetStats().dropped_unresolved == 1; }));

  directory.Set(43, "127.0.0.1:1");  // nothing listens there
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) a.transport().Send(Append(1, 43, i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "Send blocked";
  EXPECT_TRUE(PollUntil([&] { return a.transport().GetStats().dropped_queue_full >= 900; }));
  EXPECT_TRUE(PollUntil([&] { return a.transport().GetStats().dial_failures >= 1; }));
}

TEST(RaftTransport, RestartedPeerIsRedialed) {
  Directory directory;
  TestNode a(1, 9, &directory, nullptr, nullptr);
  int port = 0;
  {
    TestNode b(2, 9, &directory, nullptr, nullptr);
    port = b.mux().Port();
    a.transport().Send(Append(1, 2, 0));
    ASSERT_TRUE(PollUntil([&] { return b.InboxSize() == 1; }));
  }
  TestNode b(2, 9, &directory, nullptr, nullptr, port);
  // The first sends may die with the old connection; Raft would retry the same way.
  ASSERT_TRUE(PollUntil([&] {
    a.transport().Send(Append(1, 2, 1));
    return b.InboxSize() >= 1;
  }));
  EXPECT_GE(b.transport().GetStats().received, 1u);
}

}  // namespace
}  // namespace proglog::mux
