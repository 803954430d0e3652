// GroupCommitPacer: the wait a committer takes before its next commit.
#include "core/server/group_commit_pacer.h"

#include "gtest/gtest.h"

namespace proglog::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(GroupCommitPacerTest, AfterAnFsyncWaitsForTheAnsweredAndTheWaitingUpToHalfTheCommit) {
  GroupCommitPacer pacer;
  const absl::Time end = kStart + absl::Milliseconds(4);
  pacer.Committed(/*answered=*/8, kStart, end, /*synced=*/true, /*still_queued=*/8);
  std::optional<GroupCommitPacer::Wait> wait = pacer.TakeWait();
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->queued, 16u);
  EXPECT_EQ(wait->deadline, end + absl::Milliseconds(2));
  EXPECT_FALSE(pacer.TakeWait().has_value()) << "one wait per commit";
}

TEST(GroupCommitPacerTest, ASlowCommitWaitsAtMostTheCap) {
  GroupCommitPacer pacer;
  const absl::Time end = kStart + absl::Seconds(1);
  pacer.Committed(4, kStart, end, true, 0);
  std::optional<GroupCommitPacer::Wait> wait = pacer.TakeWait();
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->deadline, end + GroupCommitPacer::kMaxWait);
}

TEST(GroupCommitPacerTest, ACommitWithoutFsyncOrAnswersWaitsForNothing) {
  GroupCommitPacer pacer;
  pacer.Committed(16, kStart, kStart + absl::Milliseconds(4), /*synced=*/false, 3);
  EXPECT_FALSE(pacer.TakeWait().has_value());
  pacer.Committed(16, kStart, kStart + absl::Milliseconds(4), true, 3);
  pacer.Committed(0, kStart, kStart + absl::Milliseconds(4), true, 3);
  EXPECT_FALSE(pacer.TakeWait().has_value()) << "a later commit replaces the wait";
}

}  // namespace
}  // namespace proglog::server
