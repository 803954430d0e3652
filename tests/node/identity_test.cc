// Tests of core/node's identity file and peer directory: how a node knows who
// it is in Raft, and how a name coming back with a new id is noticed.
#include "core/node/identity.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/node/peer_directory.h"
#include "gtest/gtest.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::node::internal {
namespace {

class IdentityTest : public ::testing::Test {
 protected:
  std::filesystem::path RaftDir() const { return dir_ / "raft"; }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
};

TEST_F(IdentityTest, NewStorageGetsRandomIdsThatSurviveARestart) {
  absl::StatusOr<Identity> first = IdentityFile(RaftDir()).LoadOrCreate("n1", /*bootstrap=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_NE(first->raft_id, 0u);
  EXPECT_NE(first->raft_id, RaftIdOf("n1"));
  EXPECT_NE(first->cluster_id, 0u);

  absl::StatusOr<Identity> again = IdentityFile(RaftDir()).LoadOrCreate("n1", true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->raft_id, first->raft_id);
  EXPECT_EQ(again->cluster_id, first->cluster_id);
}

TEST_F(IdentityTest, SameNameWithEmptyStorageIsANewMember) {
  absl::StatusOr<Identity> before = IdentityFile(RaftDir()).LoadOrCreate("n1", false);
  ASSERT_TRUE(before.ok());
  std::filesystem::remove_all(RaftDir());
  absl::StatusOr<Identity> after = IdentityFile(RaftDir()).LoadOrCreate("n1", false);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->raft_id, before->raft_id);
}

TEST_F(IdentityTest, JoiningNodeHasNoClusterIdUntilItAdoptsOne) {
  IdentityFile file(RaftDir());
  absl::StatusOr<Identity> joined = file.LoadOrCreate("n2", /*bootstrap=*/false);
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->cluster_id, 0u);
  Identity adopted = *joined;
  adopted.cluster_id = 77;
  ASSERT_TRUE(file.Save(adopted).ok());
  absl::StatusOr<Identity> reopened = IdentityFile(RaftDir()).LoadOrCreate("n2", false);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->raft_id, joined->raft_id);
  EXPECT_EQ(reopened->cluster_id, 77u);
}

TEST_F(IdentityTest, StorageFromBeforeIdentitiesKeepsTheNameHash) {
  std::filesystem::create_directories(RaftDir());
  std::ofstream(RaftDir() / "state") << "written by an older version";
  absl::StatusOr<Identity> legacy = IdentityFile(RaftDir()).LoadOrCreate("n3", true);
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->raft_id, RaftIdOf("n3"));
  EXPECT_EQ(legacy->cluster_id, 0u);
}

TEST_F(IdentityTest, DamagedFileIsDataLoss) {
  ASSERT_TRUE(IdentityFile(RaftDir()).LoadOrCreate("n1", true).ok());
  {
    std::fstream file(RaftDir() / "identity", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(14);
    file.put('\x5a');
  }
  absl::StatusOr<Identity> damaged = IdentityFile(RaftDir()).LoadOrCreate("n1", true);
  EXPECT_TRUE(absl::IsDataLoss(damaged.status())) << damaged.status();
}

discovery::Member MemberNamed(std::string name, std::string raft_id) {
  discovery::Member member;
  member.name = std::move(name);
  member.tags = {{kRpcAddrTag, "127.0.0.1:1"}};
  if (!raft_id.empty()) member.tags[kRaftIdTag] = std::move(raft_id);
  return member;
}

TEST(PeerDirectory, TakesTheRaftIdFromTheTagOrTheNameHash) {
  PeerDirectory peers;
  peers.Update(MemberNamed("a", "42"));
  peers.Update(MemberNamed("b", ""));
  EXPECT_EQ(peers.Find(42)->name, "a");
  EXPECT_EQ(peers.Find(RaftIdOf("b"))->name, "b");
  EXPECT_TRUE(peers.Replaced().empty());
}

TEST(PeerDirectory, NameBackWithAnotherIdReplacesTheOldIncarnation) {
  PeerDirectory peers;
  peers.Update(MemberNamed("a", "42"));
  peers.Update(MemberNamed("a", "43"));
  EXPECT_FALSE(peers.Find(42).has_value());
  EXPECT_EQ(peers.Find(43)->name, "a");
  EXPECT_EQ(peers.Replaced(), (std::map<uint64_t, std::string>{{42, "a"}}));
  peers.Remove("a");
  EXPECT_FALSE(peers.Find(43).has_value());
}

}  // namespace
}  // namespace proglog::node::internal
