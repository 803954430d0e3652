// The client's cluster view and per-call choice of server (core/client/picker),
// which does no I/O: fed GetServers answers and failures, it must route writes
// to the leader and spread reads over reachable followers.
#include "core/client/picker.h"

#include <gtest/gtest.h>

#include <map>

namespace proglog::client {
namespace {

const std::vector<Server> kThree = {
    {"n1", "10.0.0.1:8400", true}, {"n2", "10.0.0.2:8400", false}, {"n3", "10.0.0.3:8400", false}};

TEST(PickerTest, BeforeAnyAnswerEverythingGoesToTheBootstrapAddresses) {
  Picker picker({"10.0.0.9:8400"}, BalancePolicy::kFollowerReads);
  EXPECT_TRUE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  EXPECT_EQ(picker.ForWrite(), "10.0.0.9:8400");
  EXPECT_EQ(picker.ForRead(), "10.0.0.9:8400");
}

TEST(PickerTest, WritesGoToTheLeaderAndReadsAlternateOverTheFollowers) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  picker.Update(kThree, absl::Now());
  EXPECT_FALSE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  EXPECT_EQ(picker.ForWrite(), "10.0.0.1:8400");
  std::map<std::string, int> reads;
  for (int i = 0; i < 10; ++i) ++reads[picker.ForRead()];
  EXPECT_EQ(reads, (std::map<std::string, int>{{"10.0.0.2:8400", 5}, {"10.0.0.3:8400", 5}}));
}

TEST(PickerTest, LeaderPolicySendsReadsToTheLeader) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kLeader);
  picker.Update(kThree, absl::Now());
  EXPECT_EQ(picker.ForRead(), "10.0.0.1:8400");
}

TEST(PickerTest, AFailedFollowerIsSkippedAndTheViewIsDueForARefresh) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  picker.Update(kThree, absl::Now());
  picker.Failed("10.0.0.3:8400");
  EXPECT_TRUE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(picker.ForRead(), "10.0.0.2:8400");
  // A refresh that still lists it (gossip has not noticed) does not bring it back.
  picker.Update(kThree, absl::Now());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(picker.ForRead(), "10.0.0.2:8400");
}

TEST(PickerTest, AFailedLeaderIsNotBelievedWhenAFollowerNamesItAgain) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  picker.Update(kThree, absl::Now());
  picker.Failed("10.0.0.1:8400");
  EXPECT_FALSE(picker.LeaderIs("10.0.0.1:8400"));
  EXPECT_NE(picker.ForWrite(), "10.0.0.1:8400");
  EXPECT_TRUE(picker.LeaderIs("10.0.0.3:8400"));
  EXPECT_EQ(picker.ForWrite(), "10.0.0.3:8400");
}

TEST(PickerTest, AnAnswerWithoutALeaderKeepsTheViewDue) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  std::vector<Server> electing = kThree;
  electing[0].is_leader = false;
  picker.Update(electing, absl::Now());
  EXPECT_TRUE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  EXPECT_EQ(picker.Leader(), std::nullopt);
}

TEST(PickerTest, TheViewIsDueAfterTheInterval) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  const absl::Time then = absl::Now() - absl::Seconds(11);
  picker.Update(kThree, then);
  EXPECT_TRUE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  EXPECT_FALSE(picker.NeedsRefresh(absl::Now(), absl::ZeroDuration()));
}

TEST(PickerTest, RefreshAsksTheLeaderFirstThenTheOthersThenBootstrap) {
  Picker picker({"10.0.0.9:8400", "10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  picker.Update(kThree, absl::Now());
  EXPECT_EQ(picker.RefreshOrder(), (std::vector<std::string>{"10.0.0.1:8400", "10.0.0.2:8400",
                                                             "10.0.0.3:8400", "10.0.0.9:8400"}));
}

TEST(PickerTest, PinnedNeverLeavesTheGivenAddresses) {
  Picker picker({"10.0.0.2:8400", "10.0.0.3:8400"}, BalancePolicy::kPinned);
  picker.Update(kThree, absl::Now());
  EXPECT_FALSE(picker.NeedsRefresh(absl::Now(), absl::Seconds(10)));
  EXPECT_FALSE(picker.LeaderIs("10.0.0.1:8400"));
  EXPECT_EQ(picker.ForWrite(), "10.0.0.2:8400");
  EXPECT_EQ(picker.ForRead(), "10.0.0.2:8400");
  picker.Failed("10.0.0.2:8400");
  EXPECT_EQ(picker.ForRead(), "10.0.0.3:8400");
}

TEST(PickerTest, ServersWithoutAnAddressAreLeftOut) {
  Picker picker({"10.0.0.2:8400"}, BalancePolicy::kFollowerReads);
  picker.Update({{"n1", "", true}, {"n2", "10.0.0.2:8400", false}}, absl::Now());
  EXPECT_EQ(picker.Leader(), std::nullopt);
  EXPECT_EQ(picker.ForRead(), "10.0.0.2:8400");
}

}  // namespace
}  // namespace proglog::client
