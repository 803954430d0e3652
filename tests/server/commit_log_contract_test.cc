// The CommitLog contract (core/server/commit_log.h), run against LocalCommitLog
// over a real Log on disk and against the FakeCommitLog the server tests use in
// place of a replicated log, so the fake cannot drift from the real thing.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/log/log.h"
#include "core/server/commit_log.h"
#include "core/server/local_commit_log.h"
#include "gtest/gtest.h"
#include "tests/server/fake_commit_log.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::server {
namespace {

enum class Kind { kLocal, kFake };

class CommitLogContractTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kFake) {
      commit_log_ = std::make_unique<testing::FakeCommitLog>();
      return;
    }
    log::Options options;
    options.durability.mode = log::Durability::Mode::kNever;
    absl::StatusOr<std::unique_ptr<log::Log>> opened = log::Log::Open(dir_ / "log", options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    log_ = *std::move(opened);
    commit_log_ = std::make_unique<LocalCommitLog>(log_.get());
  }

  void TearDown() override {
    commit_log_.reset();
    if (log_ != nullptr) (void)log_->Close();
  }

  // Appends values of type 0 and waits for the completion.
  absl::StatusOr<uint64_t> AppendAndWait(const std::vector<std::string>& values) {
    std::vector<NewRecord> records;
    for (const std::string& value : values) records.push_back(NewRecord{value});
    return AppendAndWait(std::move(records));
  }
  absl::StatusOr<uint64_t> AppendAndWait(std::vector<NewRecord> records) {
    absl::Notification done;
    absl::StatusOr<uint64_t> result;
    absl::Status accepted =
        commit_log_->AppendBatch(std::move(records), [&](absl::StatusOr<uint64_t> first) {
          result = std::move(first);
          done.Notify();
        });
    if (!accepted.ok()) return accepted;
    if (!done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      return absl::DeadlineExceededError("append never completed");
    }
    return result;
  }

  ::proglog::testing::ScratchDir scratch_;
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<CommitLog> commit_log_;
};

TEST_P(CommitLogContractTest, ABatchGetsConsecutiveOffsetsAndReadsReturnIt) {
  absl::StatusOr<uint64_t> first = AppendAndWait({"a", "b", "c"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 0u);
  absl::StatusOr<uint64_t> next = AppendAndWait({"d"});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 3u);
  EXPECT_EQ(commit_log_->LowestOffset(), 0u);
  EXPECT_EQ(commit_log_->NextOffset(), 4u);
  absl::StatusOr<Record> record = commit_log_->Read(2);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->value, "c");
  EXPECT_EQ(record->offset, 2u);
  absl::StatusOr<std::vector<Record>> range = commit_log_->ReadRange(1, 2, 1 << 20);
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->size(), 2u);
  EXPECT_EQ((*range)[0].value, "b");
  EXPECT_EQ((*range)[1].offset, 2u);
}

TEST_P(CommitLogContractTest, ReadsGiveBackEachRecordsTypeAsAppended) {
  ASSERT_TRUE(AppendAndWait(std::vector<NewRecord>{{"plain", 0}, {"typed", 7}}).ok());
  ASSERT_TRUE(AppendAndWait(std::vector<NewRecord>{{"max", 0xffffffffu}}).ok());
  absl::Notification one_done;
  ASSERT_TRUE(commit_log_
                  ->Append(NewRecord{"single", 42},
                           [&](absl::StatusOr<uint64_t> offset) {
                             EXPECT_TRUE(offset.ok()) << offset.status();
                             one_done.Notify();
                           })
                  .ok());
  ASSERT_TRUE(one_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::StatusOr<std::vector<Record>> range = commit_log_->ReadRange(0, 10, 1 << 20);
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->size(), 4u);
  const std::vector<std::pair<std::string, uint32_t>> want = {
      {"plain", 0}, {"typed", 7}, {"max", 0xffffffffu}, {"single", 42}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*range)[i].value, want[i].first);
    EXPECT_EQ((*range)[i].type, want[i].second) << "offset " << i;
  }
  absl::StatusOr<Record> typed = commit_log_->Read(1);
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(typed->type, 7u);
}

TEST_P(CommitLogContractTest, ReadingAtTheNextOffsetIsOutOfRange) {
  ASSERT_TRUE(AppendAndWait({"only"}).ok());
  EXPECT_EQ(commit_log_->Read(1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(commit_log_->ReadRange(1, 10, 1 << 20).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(CommitLogContractTest, AnEmptyBatchIsRefusedAtOnce) {
  bool called = false;
  absl::Status status =
      commit_log_->AppendBatch({}, [&](absl::StatusOr<uint64_t>) { called = true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(called);
}

TEST_P(CommitLogContractTest, AppendsCompleteOutsideTheCallInCallOrder) {
  constexpr int kCount = 200;
  absl::Mutex mu;
  std::vector<uint64_t> offsets(kCount);
  std::atomic<int> completed{0};
  std::atomic<bool> completed_inside{false};
  // Per thread, so a completion running on another thread while this one is
  // inside its next Append is not mistaken for one run inside the call.
  static thread_local bool inside = false;
  for (int i = 0; i < kCount; ++i) {
    inside = true;
    // The single-value path, which the service uses.
    ASSERT_TRUE(commit_log_
                    ->Append(NewRecord{absl::StrCat("v", i)},
                             [&, i](absl::StatusOr<uint64_t> offset) {
                               if (inside) completed_inside.store(true);
                               ASSERT_TRUE(offset.ok()) << offset.status();
                               offsets[i] = *offset;
                               completed.fetch_add(1);
                             })
                    .ok());
    inside = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (completed.load() < kCount && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(completed.load(), kCount);
  EXPECT_FALSE(completed_inside.load());
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(offsets[i], static_cast<uint64_t>(i));
}

TEST_P(CommitLogContractTest, WaitForOffsetFiresAtOnceForAReadableOffsetAndLaterForTheNext) {
  ASSERT_TRUE(AppendAndWait({"a"}).ok());
  bool fired_now = false;
  commit_log_->WaitForOffset(0, [&] { fired_now = true; });
  EXPECT_TRUE(fired_now);  // inline, on this thread
  absl::Notification fired_later;
  commit_log_->WaitForOffset(1, [&] { fired_later.Notify(); });
  EXPECT_FALSE(fired_later.HasBeenNotified());
  ASSERT_TRUE(AppendAndWait({"b"}).ok());
  EXPECT_TRUE(fired_later.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST_P(CommitLogContractTest, ACancelledWaitNeverFires) {
  std::atomic<bool> fired{false};
  const uint64_t id = commit_log_->WaitForOffset(0, [&] { fired.store(true); });
  EXPECT_TRUE(commit_log_->CancelWait(id));
  EXPECT_FALSE(commit_log_->CancelWait(id));
  ASSERT_TRUE(AppendAndWait({"a"}).ok());
  EXPECT_FALSE(fired.load());
}

INSTANTIATE_TEST_SUITE_P(LocalAndFake, CommitLogContractTest,
                         ::testing::Values(Kind::kLocal, Kind::kFake),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kLocal ? "Local" : "Fake";
                         });

TEST(NotLeaderErrorTest, NamesTheLeaderOrNobody) {
  absl::Status named = NotLeaderError("10.0.0.1:8400");
  EXPECT_EQ(named.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LeaderAddressOf(named), "10.0.0.1:8400");
  absl::Status election = NotLeaderError("");
  EXPECT_EQ(election.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LeaderAddressOf(election), std::nullopt);
  EXPECT_EQ(LeaderAddressOf(absl::UnavailableError("closed")), std::nullopt);
}

}  // namespace
}  // namespace proglog::server
