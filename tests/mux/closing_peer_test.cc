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

TEST(ClosingPeers, WithoutAWatcherTheAnswerIsEmptyAndImmediate) {
  ClosingPeers peers;
  Answers answers;
  peers.Await(answers.Collect(), Clock::now());
  EXPECT_EQ(answers.peers, std::vector<std::string>{""});
  EXPECT_EQ(peers.NextDeadline(), std::nullopt);
}

TEST(ClosingPeers, ClosesAnswerTheOldestWaiterFirstAndWakeTheWatchers) {
  ClosingPeers peers;
  int wakes = 0;
  const uint64_t watcher = peers.AddWatcher([&] { ++wakes; });
  Answers answers;
  const Clock::time_point t0 = Clock::now();
  peers.Await(answers.Collect(), t0);
  peers.Await(answers.Collect(), t0);
  EXPECT_EQ(wakes, 2);
  EXPECT_EQ(peers.NextDeadline(), t0 + kClosingPeerWindow);
  peers.Offer("10.0.0.1:5000", t0 + std::chrono::milliseconds(1), kShutDown);
  peers.Offer("10.0.0.2:6000", t0 + std::chrono::milliseconds(2), kReset);
  peers.Offer("10.0.0.3:7000", t0 + std::chrono::milliseconds(3), kShutDown);  // dropped
  EXPECT_EQ(answers.peers, (std::vector<std::string>{"10.0.0.1:5000", "10.0.0.2:6000"}));
  EXPECT_EQ(peers.NextDeadline(), std::nullopt);
  peers.RemoveWatcher(watcher);
}

TEST(ClosingPeers, AWaiterWhoseWindowEndedGetsNoLaterClose) {
  ClosingPeers peers;
  const uint64_t watcher = peers.AddWatcher([] {});
  Answers answers;
  const Clock::time_point t0 = Clock::now();
  peers.Await(answers.Collect(), t0);
  peers.Expire(t0 + kClosingPeerWindow);  // the window's last instant: still waiting
  EXPECT_TRUE(answers.peers.empty());
  peers.Offer("10.0.0.1:5000", t0 + kClosingPeerWindow + std::chrono::milliseconds(1), kShutDown);
  EXPECT_EQ(answers.peers, std::vector<std::string>{""});
  peers.RemoveWatcher(watcher);
}

// A client that refuses our certificate can reset before gRPC logs the failure.
TEST(ClosingPeers, AResetSeenWithNobodyWaitingNamesTheNextWaiterWithinTheWindow) {
  ClosingPeers peers;
  const uint64_t watcher = peers.AddWatcher([] {});
  Answers answers;
  const Clock::time_point t0 = Clock::now();
  peers.Offer("10.0.0.1:5000", t0, kReset);
  peers.Offer("10.0.0.2:6000", t0, kShutDown);  // gRPC logs before it shuts down: dropped
  peers.Await(answers.Collect(), t0 + kClosingPeerWindow);  // the window's last instant
  EXPECT_EQ(answers.peers, std::vector<std::string>{"10.0.0.1:5000"});
  EXPECT_EQ(peers.NextDeadline(), std::nullopt);            // answered at once
  peers.Await(answers.Collect(), t0 + kClosingPeerWindow);  // the reset is taken: it waits
  EXPECT_EQ(answers.peers.size(), 1u);
  peers.RemoveWatcher(watcher);
  EXPECT_EQ(answers.peers, (std::vector<std::string>{"10.0.0.1:5000", ""}));
}

TEST(ClosingPeers, AResetOlderThanTheWindowNamesNobody) {
  ClosingPeers peers;
  const uint64_t watcher = peers.AddWatcher([] {});
  Answers answers;
  const Clock::time_point t0 = Clock::now();
  peers.Offer("10.0.0.1:5000", t0, kReset);
  peers.Await(answers.Collect(), t0 + kClosingPeerWindow + std::chrono::milliseconds(1));
  EXPECT_TRUE(answers.peers.empty());  // waiting for a close of its own
  peers.RemoveWatcher(watcher);
  EXPECT_EQ(answers.peers, std::vector<std::string>{""});
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
