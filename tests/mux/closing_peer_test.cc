// The rendezvous between a refused TLS handshake's log line and the watcher that
// sees gRPC close that connection (core/mux/closing_peer.h), driven directly
// with explicit clock values; mux_test covers it behind a real gRPC server.
#include "core/mux/closing_peer.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace proglog::mux::internal {
namespace {

using Clock = ClosingPeers::Clock;
constexpr ClosingPeers::Closed kShutDown = ClosingPeers::Closed::kShutDown;
constexpr ClosingPeers::Closed kReset = ClosingPeers::Closed::kReset;

// Each Await's answer, in the order they arrive.
struct Answers {
  std::vector<std::string> peers;
  ClosingPeerCallback Collect() {
    return [this](std::string peer) { peers.push_back(std::move(peer)); };
  }
};

// A rendezvous with one watcher registered (it counts its wake-ups), and the
// answers of the waits a test starts, from t0_ on.
class ClosingPeersWithAWatcher : public ::testing::Test {
 protected:
  void TearDown() override { peers_.RemoveWatcher(watcher_); }  // again: harmless

  ClosingPeers peers_;
  int wakes_ = 0;
  const uint64_t watcher_ = peers_.AddWatcher([this] { ++wakes_; });
  Answers answers_;
  const Clock::time_point t0_ = Clock::now();
};

TEST(ClosingPeers, WithoutAWatcherTheAnswerIsEmptyAndImmediate) {
  ClosingPeers peers;
  Answers answers;
  peers.Await(answers.Collect(), Clock::now());
  EXPECT_EQ(answers.peers, std::vector<std::string>{""});
  EXPECT_EQ(peers.NextDeadline(), std::nullopt);
}

TEST_F(ClosingPeersWithAWatcher, ClosesAnswerTheOldestWaiterFirstAndWakeTheWatchers) {
  peers_.Await(answers_.Collect(), t0_);
  peers_.Await(answers_.Collect(), t0_);
  EXPECT_EQ(wakes_, 2);
  EXPECT_EQ(peers_.NextDeadline(), t0_ + kClosingPeerWindow);
  peers_.Offer("10.0.0.1:5000", t0_ + std::chrono::milliseconds(1), kShutDown);
  peers_.Offer("10.0.0.2:6000", t0_ + std::chrono::milliseconds(2), kReset);
  peers_.Offer("10.0.0.3:7000", t0_ + std::chrono::milliseconds(3), kShutDown);  // dropped
  EXPECT_EQ(answers_.peers, (std::vector<std::string>{"10.0.0.1:5000", "10.0.0.2:6000"}));
  EXPECT_EQ(peers_.NextDeadline(), std::nullopt);
}

TEST_F(ClosingPeersWithAWatcher, AWaiterWhoseWindowEndedGetsNoLaterClose) {
  peers_.Await(answers_.Collect(), t0_);
  peers_.Expire(t0_ + kClosingPeerWindow);  // the window's last instant: still waiting
  EXPECT_TRUE(answers_.peers.empty());
  peers_.Offer("10.0.0.1:5000", t0_ + kClosingPeerWindow + std::chrono::milliseconds(1), kShutDown);
  EXPECT_EQ(answers_.peers, std::vector<std::string>{""});
}

// A client that refuses our certificate can reset before gRPC logs the failure.
TEST_F(ClosingPeersWithAWatcher, AResetSeenWithNobodyWaitingNamesTheNextWaiterWithinTheWindow) {
  peers_.Offer("10.0.0.1:5000", t0_, kReset);
  peers_.Offer("10.0.0.2:6000", t0_, kShutDown);  // gRPC logs before it shuts down: dropped
  peers_.Await(answers_.Collect(), t0_ + kClosingPeerWindow);  // the window's last instant
  EXPECT_EQ(answers_.peers, std::vector<std::string>{"10.0.0.1:5000"});
  EXPECT_EQ(peers_.NextDeadline(), std::nullopt);              // answered at once
  peers_.Await(answers_.Collect(), t0_ + kClosingPeerWindow);  // the reset is taken: it waits
  EXPECT_EQ(answers_.peers.size(), 1u);
  peers_.RemoveWatcher(watcher_);
  EXPECT_EQ(answers_.peers, (std::vector<std::string>{"10.0.0.1:5000", ""}));
}

TEST_F(ClosingPeersWithAWatcher, AResetOlderThanTheWindowNamesNobody) {
  peers_.Offer("10.0.0.1:5000", t0_, kReset);
  peers_.Await(answers_.Collect(), t0_ + kClosingPeerWindow + std::chrono::milliseconds(1));
  EXPECT_TRUE(answers_.peers.empty());  // waiting for a close of its own
  peers_.RemoveWatcher(watcher_);
  EXPECT_EQ(answers_.peers, std::vector<std::string>{""});
}

TEST(ClosingPeers, RemovingTheLastWatcherAnswersEveryWaiter) {
  ClosingPeers peers;
  const uint64_t a = peers.AddWatcher([] {});
  const uint64_t b = peers.AddWatcher([] {});
  Answers answers;
  peers.Await(answers.Collect(), Clock::now());
  peers.RemoveWatcher(a);
  EXPECT_TRUE(answers.peers.empty());  // watcher b may still see the close
  peers.RemoveWatcher(b);
  EXPECT_EQ(answers.peers, std::vector<std::string>{""});
}

}  // namespace
}  // namespace proglog::mux::internal
