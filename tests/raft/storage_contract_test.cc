// The raft::Storage contract, run against every implementation: MemoryStorage
// (what the simulator uses) and LogStorage (what a node uses), so that the fake
// is checked against the real thing. Crash behaviour differs by design
// (MemoryStorage::DropUnsynced, reopening a LogStorage) and is tested apart.
#include <memory>
#include <vector>

#include "core/raft/log_storage.h"
#include "core/raft/storage.h"
#include "gtest/gtest.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::raft {
namespace {

struct MemoryFactory {
  std::unique_ptr<Storage> Make(ConfState conf = {}) {
    return std::make_unique<MemoryStorage>(std::move(conf));
  }
};

struct LogFactory {
  ::proglog::testing::ScratchDir dir;
  std::unique_ptr<Storage> Make(ConfState conf = {}) {
    LogStorageOptions options;
    options.log.max_store_bytes = 512;  // several segments even in small tests
    auto storage = LogStorage::Open(dir.path() / "raft", options, std::move(conf));
    EXPECT_TRUE(storage.ok()) << storage.status();
    return storage.ok() ? std::unique_ptr<Storage>(std::move(*storage)) : nullptr;
  }
};

template <typename Factory>
class StorageContract : public ::testing::Test {
 protected:
  Factory factory_;
};

using Factories = ::testing::Types<MemoryFactory, LogFactory>;
class FactoryNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryFactory> ? "Memory" : "Log";
  }
};
TYPED_TEST_SUITE(StorageContract, Factories, FactoryNames);

std::vector<Entry> Entries(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(Entry{i, term, EntryType::kNormal, "x"});
  return out;
}

TYPED_TEST(StorageContract, FreshStorageIsEmptyWithBootstrapMembership) {
  auto s = this->factory_.Make(ConfState{{1, 2, 3}, {}, 0});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->FirstIndex(), 1u);
  EXPECT_EQ(s->LastIndex(), 0u);
  EXPECT_EQ(*s->Term(0), 0u);
  EXPECT_EQ(s->GetInitialState()->hard_state, HardState{});
  EXPECT_EQ(s->GetInitialState()->conf_state.voters, (std::vector<uint64_t>{1, 2, 3}));
}

TYPED_TEST(StorageContract, AppendReplacesConflictingSuffix) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 5, 1)).ok());
  ASSERT_TRUE(s->Append(Entries(3, 4, 2)).ok());
  EXPECT_EQ(s->LastIndex(), 4u);
  EXPECT_EQ(*s->Term(2), 1u);
  EXPECT_EQ(*s->Term(3), 2u);
  EXPECT_EQ(*s->Term(4), 2u);
  EXPECT_TRUE(absl::IsNotFound(s->Term(5).status()));
}

TYPED_TEST(StorageContract, RejectsGapsAndKeepsLog) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 2, 1)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(s->Append(Entries(5, 6, 1))));
  std::vector<Entry> holey = Entries(3, 4, 1);
  holey[1].index = 5;
  EXPECT_TRUE(absl::IsInvalidArgument(s->Append(holey)));
  EXPECT_EQ(s->LastIndex(), 2u);
}

TYPED_TEST(StorageContract, EntriesRoundTripEveryKindAndEmptyData) {
  auto s = this->factory_.Make();
  const std::vector<Entry> in = {
      Entry{1, 1, EntryType::kNoop, ""},
      Entry{2, 1, EntryType::kNormal, "record"},
      Entry{3, 1, EntryType::kNormal, std::string(1, '\0')},  // looks like the placeholder
      Entry{4, 2, EntryType::kConfChange,
            EncodeConfEntry({ConfChange::Type::kAddLearner, 4}, ConfState{{1}, {4}, 0})},
      Entry{5, 2, EntryType::kNormal, ""},
  };
  ASSERT_TRUE(s->Append(in).ok());
  auto out = s->Entries(1, 6, UINT64_MAX);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, in);
}

TYPED_TEST(StorageContract, EntriesReportCompactedAndMissingIndexes) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 10, 1)).ok());
  ASSERT_TRUE(s->Compact(4, "", {}).ok());
  EXPECT_TRUE(absl::IsOutOfRange(s->Entries(4, 6, UINT64_MAX).status()));
  EXPECT_TRUE(absl::IsNotFound(s->Entries(9, 12, UINT64_MAX).status()));
  EXPECT_TRUE(s->Entries(7, 7, UINT64_MAX)->empty());
  EXPECT_EQ(s->Entries(5, 11, UINT64_MAX)->size(), 6u);
}

TYPED_TEST(StorageContract, CompactKeepsTermOfSnapshotIndex) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 10, 3)).ok());
  ASSERT_TRUE(s->Compact(6, "state", ConfState{{1, 2, 3}, {}, 0}).ok());
  EXPECT_EQ(s->FirstIndex(), 7u);
  EXPECT_EQ(*s->Term(6), 3u);
  EXPECT_TRUE(absl::IsOutOfRange(s->Term(5).status()));
  EXPECT_TRUE(absl::IsOutOfRange(s->Entries(5, 8, UINT64_MAX).status()));
  EXPECT_EQ(s->Entries(7, 11, UINT64_MAX)->size(), 4u);
  EXPECT_EQ(s->GetSnapshot()->data, "state");
  EXPECT_EQ(s->GetSnapshot()->meta, (SnapshotMeta{6, 3, ConfState{{1, 2, 3}, {}, 0}}));
  EXPECT_TRUE(absl::IsInvalidArgument(s->Compact(20, "", {})));
  ASSERT_TRUE(s->Compact(3, "older", {}).ok());  // behind the snapshot: nothing to do
  EXPECT_EQ(s->GetSnapshot()->data, "state");
}

TYPED_TEST(StorageContract, EntriesHonourByteLimitButReturnOne) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 10, 1)).ok());
  EXPECT_EQ(s->Entries(1, 11, 0)->size(), 1u);
  EXPECT_EQ(s->Entries(1, 11, 3)->size(), 3u);
}

TYPED_TEST(StorageContract, ByteLimitCountsDataNotStorage) {
  // Empty entries cost nothing against the limit, whatever the log stores for them.
  auto s = this->factory_.Make();
  std::vector<Entry> in;
  for (uint64_t i = 1; i <= 5; ++i) in.push_back(Entry{i, 1, EntryType::kNoop, ""});
  in.push_back(Entry{6, 1, EntryType::kNormal, "abc"});
  ASSERT_TRUE(s->Append(in).ok());
  EXPECT_EQ(s->Entries(1, 7, 0)->size(), 5u);
  EXPECT_EQ(s->Entries(1, 7, 3)->size(), 6u);
}

TYPED_TEST(StorageContract, AppendSkipsEntriesCoveredBySnapshot) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 5, 1)).ok());
  ASSERT_TRUE(s->Compact(4, "", {}).ok());
  ASSERT_TRUE(s->Append(Entries(2, 7, 1)).ok());
  EXPECT_EQ(s->FirstIndex(), 5u);
  EXPECT_EQ(s->LastIndex(), 7u);
  ASSERT_TRUE(s->Append(Entries(1, 3, 1)).ok());  // wholly covered: nothing changes
  EXPECT_EQ(s->LastIndex(), 7u);
}

TYPED_TEST(StorageContract, ApplySnapshotKeepsAgreeingTail) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 10, 2)).ok());
  ASSERT_TRUE(s->ApplySnapshot(Snapshot{SnapshotMeta{5, 2, ConfState{{1}, {}, 0}}, "d"}).ok());
  EXPECT_EQ(s->FirstIndex(), 6u);
  EXPECT_EQ(s->LastIndex(), 10u);
  EXPECT_EQ(s->Entries(6, 11, UINT64_MAX)->size(), 5u);
  ASSERT_TRUE(s->ApplySnapshot(Snapshot{SnapshotMeta{8, 9, ConfState{{1}, {}, 0}}, "d"}).ok());
  EXPECT_EQ(s->LastIndex(), 8u);  // disagreeing tail dropped
  EXPECT_EQ(s->FirstIndex(), 9u);
  EXPECT_EQ(*s->Term(8), 9u);
  EXPECT_EQ(s->GetInitialState()->hard_state.commit, 8u);
}

TYPED_TEST(StorageContract, ApplySnapshotPastTheLogStartsAfterIt) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 3, 1)).ok());
  ASSERT_TRUE(s->ApplySnapshot(Snapshot{SnapshotMeta{20, 4, ConfState{{1, 2}, {}, 7}}, ""}).ok());
  EXPECT_EQ(s->FirstIndex(), 21u);
  EXPECT_EQ(s->LastIndex(), 20u);
  EXPECT_EQ(s->GetInitialState()->conf_state, (ConfState{{1, 2}, {}, 7}));
  ASSERT_TRUE(s->Append(Entries(21, 22, 4)).ok());
  EXPECT_EQ(*s->Term(22), 4u);
  EXPECT_EQ(s->Entries(21, 23, UINT64_MAX)->size(), 2u);
}

TYPED_TEST(StorageContract, ApplySnapshotOlderThanCurrentFails) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->Append(Entries(1, 10, 1)).ok());
  ASSERT_TRUE(s->Compact(8, "", {}).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(s->ApplySnapshot(Snapshot{SnapshotMeta{5, 1, {}}, ""})));
  EXPECT_EQ(s->FirstIndex(), 9u);
}

TYPED_TEST(StorageContract, HardStateAndMembershipReadBack) {
  auto s = this->factory_.Make();
  ASSERT_TRUE(s->SetHardState(HardState{4, 2, 0}).ok());
  ASSERT_TRUE(s->SetConfState(ConfState{{1, 2}, {3}, 9}).ok());
  ASSERT_TRUE(s->Sync().ok());
  EXPECT_EQ(s->GetInitialState()->hard_state, (HardState{4, 2, 0}));
  EXPECT_EQ(s->GetInitialState()->conf_state, (ConfState{{1, 2}, {3}, 9}));
}

}  // namespace
}  // namespace proglog::raft
