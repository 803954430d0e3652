// LogStorage on disk: what survives a reopen, how damage and crashes inside
// its multi-step operations are handled, and how it maps onto the data log.
#include "core/raft/log_storage.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/raft/entry_record.h"
#include "gtest/gtest.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::raft {
namespace {

using ::proglog::testing::ScratchDir;

std::vector<Entry> Normal(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i) {
    out.push_back(Entry{i, term, EntryType::kNormal, "value-" + std::to_string(i)});
  }
  return out;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

ino_t Inode(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

class LogStorageTest : public ::testing::Test {
 protected:
  std::filesystem::path Dir() const { return scratch_.path() / "raft"; }

  // Small segments, so that compaction has whole segments to remove.
  static LogStorageOptions Options() {
    LogStorageOptions options;
    options.log.max_store_bytes = 512;
    return options;
  }

  std::unique_ptr<LogStorage> Open(ConfState bootstrap = {}) {
    auto s = LogStorage::Open(Dir(), Options(), std::move(bootstrap));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  ScratchDir scratch_;
};

TEST_F(LogStorageTest, EntriesSurviveReopen) {
  std::vector<Entry> in = Normal(1, 50, 1);
  in.push_back(Entry{51, 2, EntryType::kNoop, ""});
  in.push_back(
      Entry{52, 2, EntryType::kConfChange,
            EncodeConfEntry({ConfChange::Type::kAddLearner, 4}, ConfState{{1, 2, 3}, {4}, 0})});
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(in).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = Open();
  EXPECT_EQ(s->FirstIndex(), 1u);
  EXPECT_EQ(s->LastIndex(), 52u);
  EXPECT_EQ(*s->Term(52), 2u);
  EXPECT_EQ(*s->Term(50), 1u);
  auto out = s->Entries(1, 53, UINT64_MAX);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, in);
}

TEST_F(LogStorageTest, RecordOffsetIsIndexMinusOneWithTermAndType) {
  auto s = Open();
  ASSERT_TRUE(
      s->Append({Entry{1, 3, EntryType::kNoop, ""}, Entry{2, 3, EntryType::kNormal, "a"}}).ok());
  std::shared_ptr<log::Log> log = s->SharedLog();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->LowestOffset(), 0u);
  EXPECT_EQ(log->NextOffset(), 2u);
  auto noop = log->Read(0);
  ASSERT_TRUE(noop.ok()) << noop.status();
  EXPECT_EQ(noop->term, 3u);
  EXPECT_EQ(noop->type, static_cast<uint32_t>(EntryType::kNoop) | kEmptyDataFlag);
  EXPECT_EQ(noop->value, std::string(1, kEmptyDataValue));
  auto user = log->Read(1);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->value, "a");  // user bytes stored verbatim
  EXPECT_EQ(user->type, static_cast<uint32_t>(EntryType::kNormal));
  EXPECT_EQ(*RecordToEntry(*user), (Entry{2, 3, EntryType::kNormal, "a"}));
  EXPECT_EQ(*RecordToEntry(*noop), (Entry{1, 3, EntryType::kNoop, ""}));
}

TEST_F(LogStorageTest, HardStateAndMembershipSurviveReopen) {
  {
    auto s = Open(ConfState{{1, 2, 3}, {}, 0});
    ASSERT_TRUE(s->Append(Normal(1, 5, 2)).ok());
    ASSERT_TRUE(s->SetHardState(HardState{2, 3, 4}).ok());
    ASSERT_TRUE(s->SetConfState(ConfState{{1, 2, 3}, {4}, 5}).ok());
    ASSERT_TRUE(s->Sync().ok());
  }
  auto s = Open(ConfState{{9}, {}, 0});  // bootstrap ignored once state exists
  auto init = s->GetInitialState();
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_EQ(init->hard_state, (HardState{2, 3, 4}));
  EXPECT_EQ(init->conf_state, (ConfState{{1, 2, 3}, {4}, 5}));
}

TEST_F(LogStorageTest, BootstrapMembershipIsDurableFromOpen) {
  { auto s = Open(ConfState{{1, 2, 3}, {}, 0}); }
  auto s = Open();
  EXPECT_EQ(s->GetInitialState()->conf_state.voters, (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(LogStorageTest, SyncWritesTermAndVoteButDefersCommitOnlyChanges) {
  auto s = Open();
  ASSERT_TRUE(s->Append(Normal(1, 5, 1)).ok());
  ASSERT_TRUE(s->SetHardState(HardState{1, 1, 0}).ok());
  ASSERT_TRUE(s->Sync().ok());
  const ino_t written = Inode(Dir() / "state");
  ASSERT_TRUE(s->SetHardState(HardState{1, 1, 3}).ok());
  ASSERT_TRUE(s->Sync().ok());
  EXPECT_EQ(Inode(Dir() / "state"), written) << "a commit-only change rewrote the state file";
  ASSERT_TRUE(s->SetHardState(HardState{2, 0, 3}).ok());
  ASSERT_TRUE(s->Sync().ok());
  EXPECT_NE(Inode(Dir() / "state"), written) << "a new term was not written";
}

// An append is fsynced under the default durability, and left to the OS when
// the operator chose --fsync=never (the state file is fsynced either way).
TEST_F(LogStorageTest, AppendFollowsTheConfiguredDurability) {
  {
    auto s = Open();
    const uint64_t opened = s->SharedLog()->GetStats().syncs;
    ASSERT_TRUE(s->Append(Normal(1, 5, 1)).ok());
    ASSERT_TRUE(s->Append(Normal(6, 9, 1)).ok());
    EXPECT_GE(s->SharedLog()->GetStats().syncs, opened + 2);
    ASSERT_TRUE(s->Close().ok());
  }
  std::filesystem::remove_all(Dir());
  LogStorageOptions options;  // segments that do not roll: a roll fsyncs the old one
  options.log.durability.mode = log::Durability::Mode::kNever;
  auto s = LogStorage::Open(Dir(), options, ConfState{{1}, {}});
  ASSERT_TRUE(s.ok()) << s.status();
  const uint64_t opened = (*s)->SharedLog()->GetStats().syncs;
  ASSERT_TRUE((*s)->Append(Normal(1, 5, 1)).ok());
  ASSERT_TRUE((*s)->Append(Normal(6, 9, 1)).ok());
  ASSERT_TRUE((*s)->SetHardState(HardState{1, 1, 0}).ok());
  ASSERT_TRUE((*s)->Sync().ok());
  EXPECT_EQ((*s)->SharedLog()->GetStats().syncs, opened);
  EXPECT_EQ((*s)->LastIndex(), 9u);
}

TEST_F(LogStorageTest, CloseWritesDeferredCommit) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(Normal(1, 5, 1)).ok());
    ASSERT_TRUE(s->SetHardState(HardState{1, 1, 0}).ok());
    ASSERT_TRUE(s->Sync().ok());
    ASSERT_TRUE(s->SetHardState(HardState{1, 1, 4}).ok());
    ASSERT_TRUE(s->Sync().ok());
    ASSERT_TRUE(s->Close().ok());
  }
  EXPECT_EQ(Open()->GetInitialState()->hard_state, (HardState{1, 1, 4}));
}

TEST_F(LogStorageTest, GarbledStateFileIsDataLoss) {
  {
    auto s = Open(ConfState{{1}, {}, 0});
    ASSERT_TRUE(s->SetHardState(HardState{5, 1, 0}).ok());
    ASSERT_TRUE(s->Sync().ok());
  }
  std::string bytes = ReadAll(Dir() / "state");
  bytes[bytes.size() / 2] ^= 0x01;
  WriteAll(Dir() / "state", bytes);
  auto s = LogStorage::Open(Dir(), Options());
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
  EXPECT_NE(s.status().message().find("state"), std::string::npos) << s.status();
}

TEST_F(LogStorageTest, TornStateFileIsDataLoss) {
  {
    auto s = Open(ConfState{{1}, {}, 0});
    ASSERT_TRUE(s->SetHardState(HardState{5, 1, 0}).ok());
    ASSERT_TRUE(s->Sync().ok());
  }
  const std::string bytes = ReadAll(Dir() / "state");
  WriteAll(Dir() / "state", bytes.substr(0, bytes.size() - 3));
  EXPECT_TRUE(absl::IsDataLoss(LogStorage::Open(Dir(), Options()).status()));
}

TEST_F(LogStorageTest, GarbledSnapshotFileIsDataLoss) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(Normal(1, 5, 1)).ok());
    ASSERT_TRUE(s->Compact(3, "data", ConfState{{1}, {}, 0}).ok());
  }
  std::string bytes = ReadAll(Dir() / "snapshot");
  bytes[bytes.size() - 6] ^= 0x40;
  WriteAll(Dir() / "snapshot", bytes);
  EXPECT_TRUE(absl::IsDataLoss(LogStorage::Open(Dir(), Options()).status()));
}

TEST_F(LogStorageTest, SuffixReplacementShowsOnlyNewSuffixAfterReopen) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(Normal(1, 40, 1)).ok());  // spans several segments
    std::vector<Entry> replacement = Normal(6, 8, 2);
    ASSERT_TRUE(s->Append(replacement).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = Open();
  EXPECT_EQ(s->LastIndex(), 8u);
  EXPECT_EQ(*s->Term(5), 1u);
  EXPECT_EQ(*s->Term(6), 2u);
  EXPECT_EQ(*s->Term(8), 2u);
  EXPECT_TRUE(absl::IsNotFound(s->Term(9).status()));
  EXPECT_EQ(s->SharedLog()->NextOffset(), 8u);
  ASSERT_TRUE(s->Append(Normal(9, 9, 2)).ok());
  EXPECT_EQ(s->Entries(9, 10, UINT64_MAX)->front().data, "value-9");
}

TEST_F(LogStorageTest, ApplySnapshotOnDisagreeingLogStartsAfterSnapshot) {
  auto s = Open();
  ASSERT_TRUE(s->Append(Normal(1, 30, 1)).ok());
  std::shared_ptr<log::Log> old_log = s->SharedLog();
  const Snapshot snap{SnapshotMeta{20, 3, ConfState{{1, 2}, {}, 12}}, "next-offset"};
  ASSERT_TRUE(s->ApplySnapshot(snap).ok());
  EXPECT_EQ(s->FirstIndex(), 21u);
  EXPECT_EQ(s->LastIndex(), 20u);
  EXPECT_EQ(*s->Term(20), 3u);
  // The data log itself restarts after the snapshot; the old one is closed.
  EXPECT_EQ(s->SharedLog()->LowestOffset(), 20u);
  EXPECT_EQ(s->SharedLog()->NextOffset(), 20u);
  EXPECT_TRUE(absl::IsFailedPrecondition(old_log->Read(0).status()));
  ASSERT_TRUE(s->Append(Normal(21, 22, 3)).ok());
  ASSERT_TRUE(s->Close().ok());

  auto reopened = Open();
  EXPECT_EQ(reopened->FirstIndex(), 21u);
  EXPECT_EQ(reopened->LastIndex(), 22u);
  EXPECT_EQ(*reopened->Term(20), 3u);
  EXPECT_EQ(*reopened->GetSnapshot(), snap);
  EXPECT_EQ(reopened->GetInitialState()->conf_state, snap.meta.conf);
  EXPECT_EQ(reopened->GetInitialState()->hard_state.commit, 20u);
  EXPECT_EQ(reopened->Entries(21, 23, UINT64_MAX)->back().data, "value-22");
}

TEST_F(LogStorageTest, CompactRemovesWholeSegmentsBelowSnapshot) {
  auto s = Open();
  ASSERT_TRUE(s->Append(Normal(1, 100, 1)).ok());
  const uint64_t size_before = s->SharedLog()->SizeBytes();
  ASSERT_TRUE(s->Compact(60, "d", ConfState{{1}, {}, 0}).ok());
  std::shared_ptr<log::Log> log = s->SharedLog();
  EXPECT_GT(log->LowestOffset(), 0u);
  EXPECT_LE(log->LowestOffset(), 60u);  // the segment holding index 61 stays
  EXPECT_LT(log->SizeBytes(), size_before);
  EXPECT_EQ(s->FirstIndex(), 61u);
  ASSERT_TRUE(s->Close().ok());

  auto reopened = Open();
  EXPECT_EQ(reopened->FirstIndex(), 61u);
  EXPECT_EQ(reopened->LastIndex(), 100u);
  EXPECT_EQ(*reopened->Term(60), 1u);
  EXPECT_TRUE(absl::IsOutOfRange(reopened->Entries(60, 62, UINT64_MAX).status()));
  EXPECT_EQ(reopened->Entries(61, 101, UINT64_MAX)->size(), 40u);
  EXPECT_EQ(reopened->GetSnapshot()->data, "d");
}

TEST_F(LogStorageTest, ReopenRepairsCrashInsideApplySnapshot) {
  // The snapshot file reached the disk but the log was not yet replaced: model
  // it with the snapshot file from another node's storage.
  ScratchDir other;
  {
    auto donor = LogStorage::Open(other.path(), Options());
    ASSERT_TRUE(donor.ok());
    ASSERT_TRUE(
        (*donor)->ApplySnapshot(Snapshot{SnapshotMeta{15, 4, ConfState{{1, 2}, {}, 9}}, ""}).ok());
  }
  {
    auto s = Open(ConfState{{1}, {}, 0});
    ASSERT_TRUE(s->Append(Normal(1, 30, 1)).ok());  // holds index 15, with another term
  }
  std::filesystem::copy_file(other.path() / "snapshot", Dir() / "snapshot",
                             std::filesystem::copy_options::overwrite_existing);
  auto s = Open();
  EXPECT_EQ(s->FirstIndex(), 16u);
  EXPECT_EQ(s->LastIndex(), 15u);
  EXPECT_EQ(*s->Term(15), 4u);
  EXPECT_EQ(s->SharedLog()->NextOffset(), 15u);
  EXPECT_EQ(s->GetInitialState()->conf_state, (ConfState{{1, 2}, {}, 9}));
  EXPECT_EQ(s->GetInitialState()->hard_state.commit, 15u);
}

TEST_F(LogStorageTest, StateWrittenBeforeSnapshotKeepsNewerMembership) {
  // A crash inside Compact after the snapshot file but before the state file:
  // the state file's membership is newer than the snapshot's and must win.
  {
    auto s = Open(ConfState{{1}, {}, 0});
    ASSERT_TRUE(s->Append(Normal(1, 10, 1)).ok());
    ASSERT_TRUE(s->SetConfState(ConfState{{1, 2}, {}, 8}).ok());
    ASSERT_TRUE(s->Sync().ok());
  }
  const std::string state_before = ReadAll(Dir() / "state");
  {
    auto s = Open();
    ASSERT_TRUE(s->Compact(5, "", ConfState{{1}, {}, 0}).ok());
  }
  WriteAll(Dir() / "state", state_before);  // as if the state write never happened
  auto s = Open();
  EXPECT_EQ(s->FirstIndex(), 6u);
  EXPECT_EQ(s->GetInitialState()->conf_state, (ConfState{{1, 2}, {}, 8}));
}

TEST_F(LogStorageTest, LogStartingAfterSnapshotIsDataLoss) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(Normal(1, 100, 1)).ok());
    ASSERT_TRUE(s->Compact(60, "", {}).ok());
    ASSERT_GT(s->SharedLog()->LowestOffset(), 0u);
  }
  std::filesystem::remove(Dir() / "snapshot");
  auto s = LogStorage::Open(Dir(), Options());
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
}

TEST_F(LogStorageTest, BuildOffsetTranslatorSkipsNoopAndConfEntries) {
  auto s = Open();
  ASSERT_TRUE(
      s->Append({Entry{1, 1, EntryType::kNoop, ""}, Entry{2, 1, EntryType::kNormal, "a"},
                 Entry{3, 1, EntryType::kNormal, "b"},
                 Entry{4, 1, EntryType::kConfChange,
                       EncodeConfEntry({ConfChange::Type::kAddLearner, 2}, ConfState{{1}, {2}, 0})},
                 Entry{5, 1, EntryType::kNormal, "c"}, Entry{6, 2, EntryType::kNoop, ""},
                 Entry{7, 2, EntryType::kNormal, "d"}})
          .ok());
  auto t = s->BuildOffsetTranslator(0, 5);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->OffsetOf(2), 0u);
  EXPECT_EQ(*t->OffsetOf(3), 1u);
  EXPECT_TRUE(absl::IsNotFound(t->OffsetOf(4).status()));
  EXPECT_EQ(*t->OffsetOf(5), 2u);
  EXPECT_EQ(t->NextIndex(), 6u);
  EXPECT_EQ(t->NextOffset(), 3u);
  EXPECT_TRUE(absl::IsInvalidArgument(s->BuildOffsetTranslator(0, 8).status()));

  // After a snapshot the translator starts from the offset the snapshot recorded.
  ASSERT_TRUE(s->Compact(3, "", ConfState{{1}, {}, 0}).ok());
  auto after = s->BuildOffsetTranslator(2, 7);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->FirstIndex(), 4u);
  EXPECT_EQ(*after->OffsetOf(5), 2u);
  EXPECT_EQ(*after->OffsetOf(7), 3u);
  EXPECT_EQ(after->NextOffset(), 4u);
}

TEST_F(LogStorageTest, TypedRecordEntriesSurviveReopenAndTakeOffsets) {
  auto [typed, data] = EncodeUserRecord(UserRecord{"t", 7});
  {
    auto s = Open();
    ASSERT_TRUE(s->Append({Entry{1, 1, EntryType::kNoop, ""}, Entry{2, 1, typed, data},
                           Entry{3, 1, EntryType::kNormal, "plain"}, Entry{4, 1, typed, data}})
                    .ok());
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = Open();
  auto entries = s->Entries(1, 5, 1 << 20);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[1], (Entry{2, 1, EntryType::kTypedRecord, data}));
  auto t = s->BuildOffsetTranslator(0, 4);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->OffsetOf(2), 0u);
  EXPECT_EQ(*t->OffsetOf(3), 1u);
  EXPECT_EQ(*t->OffsetOf(4), 2u);
  EXPECT_EQ(t->NextOffset(), 3u);
}

TEST_F(LogStorageTest, ClosedStorageRefuses) {
  auto s = Open();
  ASSERT_TRUE(s->Close().ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(s->Append(Normal(1, 1, 1))));
  EXPECT_TRUE(absl::IsFailedPrecondition(s->Entries(1, 1, 0).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(s->Close()));
}

TEST_F(LogStorageTest, SecondOpenOfSameDirectoryFails) {
  auto s = Open();
  auto second = LogStorage::Open(Dir(), Options());
  EXPECT_FALSE(second.ok());
}

}  // namespace
}  // namespace proglog::raft
