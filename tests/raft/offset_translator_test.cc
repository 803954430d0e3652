#include "core/raft/offset_translator.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace proglog::raft {
namespace {

TEST(OffsetTranslator, SkipsEntriesWithoutRecords) {
  OffsetTranslator t;
  // 1: no-op, 2: record, 3: record, 4: conf change, 5: no-op, 6: record
  const EntryType types[] = {EntryType::kNoop,       EntryType::kNormal, EntryType::kNormal,
                             EntryType::kConfChange, EntryType::kNoop,   EntryType::kNormal};
  for (uint64_t i = 0; i < 6; ++i) ASSERT_TRUE(t.Append(i + 1, types[i]).ok());
  EXPECT_EQ(*t.OffsetOf(2), 0u);
  EXPECT_EQ(*t.OffsetOf(3), 1u);
  EXPECT_EQ(*t.OffsetOf(6), 2u);
  EXPECT_EQ(t.NextOffset(), 3u);
  EXPECT_EQ(*t.IndexOf(0), 2u);
  EXPECT_EQ(*t.IndexOf(1), 3u);
  EXPECT_EQ(*t.IndexOf(2), 6u);
  EXPECT_TRUE(absl::IsNotFound(t.OffsetOf(4).status()));
  EXPECT_TRUE(absl::IsOutOfRange(t.OffsetOf(7).status()));
  EXPECT_TRUE(absl::IsOutOfRange(t.IndexOf(3).status()));
}

TEST(OffsetTranslator, RejectsOutOfOrderAppend) {
  OffsetTranslator t;
  ASSERT_TRUE(t.Append(1, EntryType::kNormal).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(t.Append(3, EntryType::kNormal)));
  EXPECT_EQ(t.NextIndex(), 2u);  // nothing lost
  EXPECT_EQ(t.NextOffset(), 1u);
}

TEST(OffsetTranslator, TruncateReusesOffsets) {
  OffsetTranslator t;
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(t.Append(i, EntryType::kNormal).ok());
  ASSERT_TRUE(t.TruncateFrom(3).ok());
  EXPECT_EQ(t.NextOffset(), 2u);
  ASSERT_TRUE(t.Append(3, EntryType::kNoop).ok());
  ASSERT_TRUE(t.Append(4, EntryType::kNormal).ok());
  EXPECT_EQ(*t.OffsetOf(4), 2u);
}

TEST(OffsetTranslator, ResetAfterSnapshotContinuesDensely) {
  OffsetTranslator t;
  t.Reset(101, 40);  // a snapshot up to index 100 held offsets 0..39
  ASSERT_TRUE(t.Append(101, EntryType::kNoop).ok());
  ASSERT_TRUE(t.Append(102, EntryType::kNormal).ok());
  EXPECT_EQ(*t.OffsetOf(102), 40u);
  EXPECT_TRUE(absl::IsOutOfRange(t.OffsetOf(100).status()));
  EXPECT_TRUE(absl::IsOutOfRange(t.TruncateFrom(50)));
}

// Against a plain vector model, over random sequences of appends, truncations
// and compactions.
TEST(OffsetTranslator, MatchesModelOnRandomHistories) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    OffsetTranslator t;
    std::vector<bool> holds;  // holds[i] for index i+1
    uint64_t dropped_before = 1;
    for (int step = 0; step < 300; ++step) {
      const int op = rng() % 10;
      if (op < 7) {
        const bool rec = rng() % 4 != 0;
        ASSERT_TRUE(t.Append(holds.size() + 1, rec ? EntryType::kNormal : EntryType::kNoop).ok());
        holds.push_back(rec);
      } else if (op < 9 && holds.size() >= dropped_before) {
        const uint64_t from = dropped_before + rng() % (holds.size() - dropped_before + 1);
        ASSERT_TRUE(t.TruncateFrom(from).ok());
        holds.resize(from - 1);
      } else if (!holds.empty()) {
        dropped_before = std::max<uint64_t>(dropped_before, 1 + rng() % holds.size());
        t.DropBefore(dropped_before);
      }
      uint64_t offset = 0;
      for (uint64_t i = 1; i <= holds.size(); ++i) {
        if (i >= dropped_before) {
          auto got = t.OffsetOf(i);
          if (holds[i - 1]) {
            ASSERT_TRUE(got.ok()) << got.status();
            ASSERT_EQ(*got, offset);
            ASSERT_EQ(*t.IndexOf(offset), i);
          } else {
            ASSERT_TRUE(absl::IsNotFound(got.status()));
          }
        }
        offset += holds[i - 1];
      }
      ASSERT_EQ(t.NextOffset(), offset);
    }
  }
}

}  // namespace
}  // namespace proglog::raft
