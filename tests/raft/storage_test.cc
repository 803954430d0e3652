#include "core/raft/storage.h"

#include <vector>

#include "gtest/gtest.h"

namespace proglog::raft {
namespace {

std::vector<Entry> Entries(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(Entry{i, term, EntryType::kNormal, "x"});
  return out;
}

TEST(MemoryStorage, AppendReplacesConflictingSuffix) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 5, 1)).ok());
  ASSERT_TRUE(s.Append(Entries(3, 4, 2)).ok());
  EXPECT_EQ(s.LastIndex(), 4u);
  EXPECT_EQ(*s.Term(2), 1u);
  EXPECT_EQ(*s.Term(3), 2u);
}

TEST(MemoryStorage, RejectsGapsAndKeepsLog) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 2, 1)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(s.Append(Entries(5, 6, 1))));
  EXPECT_EQ(s.LastIndex(), 2u);
}

TEST(MemoryStorage, CompactKeepsTermOfSnapshotIndex) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 10, 3)).ok());
  ASSERT_TRUE(s.Compact(6, "state", ConfState{{1, 2, 3}, {}, 0}).ok());
  EXPECT_EQ(s.FirstIndex(), 7u);
  EXPECT_EQ(*s.Term(6), 3u);
  EXPECT_TRUE(absl::IsOutOfRange(s.Term(5).status()));
  EXPECT_TRUE(absl::IsOutOfRange(s.Entries(5, 8, UINT64_MAX).status()));
  EXPECT_EQ(s.Entries(7, 11, UINT64_MAX)->size(), 4u);
  EXPECT_EQ(s.GetSnapshot()->data, "state");
  EXPECT_TRUE(absl::IsInvalidArgument(s.Compact(20, "", {})));
}

TEST(MemoryStorage, EntriesHonourByteLimitButReturnOne) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 10, 1)).ok());
  EXPECT_EQ(s.Entries(1, 11, 0)->size(), 1u);
  EXPECT_EQ(s.Entries(1, 11, 3)->size(), 3u);
}

TEST(MemoryStorage, ApplySnapshotKeepsAgreeingTail) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 10, 2)).ok());
  ASSERT_TRUE(s.ApplySnapshot(Snapshot{SnapshotMeta{5, 2, ConfState{{1}, {}, 0}}, "d"}).ok());
  EXPECT_EQ(s.FirstIndex(), 6u);
  EXPECT_EQ(s.LastIndex(), 10u);
  ASSERT_TRUE(s.ApplySnapshot(Snapshot{SnapshotMeta{8, 9, ConfState{{1}, {}, 0}}, "d"}).ok());
  EXPECT_EQ(s.LastIndex(), 8u);  // disagreeing tail dropped
  EXPECT_EQ(s.GetInitialState()->hard_state.commit, 8u);
}

TEST(MemoryStorage, CrashLosesOnlyUnsyncedWrites) {
  MemoryStorage s(ConfState{{1, 2, 3}, {}, 0});
  ASSERT_TRUE(s.Append(Entries(1, 3, 1)).ok());
  ASSERT_TRUE(s.SetHardState(HardState{1, 2, 3}).ok());
  ASSERT_TRUE(s.Sync().ok());
  ASSERT_TRUE(s.Append(Entries(3, 6, 2)).ok());  // replaces index 3, unsynced
  ASSERT_TRUE(s.SetHardState(HardState{2, 1, 3}).ok());
  EXPECT_TRUE(s.HasUnsynced());
  s.DropUnsynced();
  EXPECT_EQ(s.LastIndex(), 3u);
  EXPECT_EQ(*s.Term(3), 1u);  // the synced entry is back
  EXPECT_EQ(s.GetInitialState()->hard_state, (HardState{1, 2, 3}));
  EXPECT_EQ(s.GetInitialState()->conf_state.voters, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(MemoryStorage, SyncAfterTruncationPersistsNewTail) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Entries(1, 5, 1)).ok());
  ASSERT_TRUE(s.Sync().ok());
  ASSERT_TRUE(s.Append(Entries(2, 3, 2)).ok());
  ASSERT_TRUE(s.Sync().ok());
  s.DropUnsynced();
  EXPECT_EQ(s.LastIndex(), 3u);
  EXPECT_EQ(*s.Term(2), 2u);
}

TEST(ConfChange, EncodesAndRejectsGarbage) {
  const ConfChange cc{ConfChange::Type::kPromoteLearner, 0x0102030405060708ull};
  EXPECT_EQ(*ConfChange::Decode(cc.Encode()), cc);
  EXPECT_TRUE(absl::IsInvalidArgument(ConfChange::Decode("short").status()));
  std::string bad = cc.Encode();
  bad[0] = 9;
  EXPECT_TRUE(absl::IsInvalidArgument(ConfChange::Decode(bad).status()));
}

}  // namespace
}  // namespace proglog::raft

namespace proglog::raft {
namespace {

TEST(ConfEntry, CarriesResultingMembership) {
  const ConfChange cc{ConfChange::Type::kAddLearner, 4};
  const ConfState result{{1, 2, 3}, {4}, 0};
  auto decoded = DecodeConfEntry(EncodeConfEntry(cc, result));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->first, cc);
  EXPECT_EQ(decoded->second, result);
  std::string truncated = EncodeConfEntry(cc, result);
  truncated.pop_back();
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeConfEntry(truncated).status()));
}

}  // namespace
}  // namespace proglog::raft
