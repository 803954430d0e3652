// Removing data: Truncate (whole old segments), retention by size and by age,
// and TruncateSuffix (the tail, for the replication layer).
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "gtest/gtest.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::SmallOptions;
using testing::Value;

// 10 records per segment (SmallOptions' index limit).
std::unique_ptr<Log> Filled(const std::filesystem::path& dir, int n, Options o = SmallOptions()) {
  auto log = Log::Open(dir, o);
  EXPECT_TRUE(log.ok()) << log.status();
  for (int i = 0; i < n; ++i) EXPECT_TRUE((*log)->Append(Value("rec" + std::to_string(i))).ok());
  return *std::move(log);
}

void SetModified(const std::filesystem::path& p, std::chrono::system_clock::time_point t) {
  const auto since_epoch = t.time_since_epoch();
  timespec times[2];
  times[0].tv_sec = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  times[0].tv_nsec = 0;
  times[1] = times[0];
  ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

TEST(TruncateTest, RemovesWholeSegmentsBelowOffset) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 35);
  const auto before = log->Segments();
  ASSERT_EQ(before.size(), 4u);
  ASSERT_TRUE(log->Truncate(25).ok());  // segments [0,10) and [10,20) go; [20,30) holds 25
  EXPECT_EQ(log->LowestOffset(), 20u);
  EXPECT_EQ(log->Segments().size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(before[0].store_path));
  EXPECT_FALSE(std::filesystem::exists(before[1].index_path));
  EXPECT_EQ(log->Read(19).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(log->Read(20)->value, "rec20");
  EXPECT_EQ(log->NextOffset(), 35u);
  ASSERT_TRUE(log->Close().ok());
  auto reopened = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->LowestOffset(), 20u);
  EXPECT_EQ((*reopened)->Read(34)->value, "rec34");
}

TEST(TruncateTest, NeverRemovesTheActiveSegment) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 15);
  ASSERT_TRUE(log->Truncate(1000).ok());
  EXPECT_EQ(log->LowestOffset(), 10u);
  EXPECT_EQ(log->Read(14)->value, "rec14");
  EXPECT_EQ(*log->Append(Value("more")), 15u);
}

TEST(RetentionTest, RemovesOldestSegmentsWhileOverByteLimit) {
  ScratchDir dir;
  Options o = SmallOptions();
  auto log = Filled(dir.path(), 45, o);
  const uint64_t per_segment = log->Segments()[0].store_bytes;
  ASSERT_EQ(log->Segments().size(), 5u);
  // Keep at most two and a half segments' worth: the three oldest must go.
  Options limited = o;
  limited.retention_bytes = per_segment * 5 / 2;
  ASSERT_TRUE(log->Close().ok());
  auto reopened = Log::Open(dir.path(), limited);
  ASSERT_TRUE(reopened.ok());
  absl::StatusOr<int> removed = (*reopened)->EnforceRetention();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 3);
  EXPECT_LE((*reopened)->SizeBytes(), limited.retention_bytes);
  EXPECT_EQ((*reopened)->LowestOffset(), 30u);
  EXPECT_EQ((*reopened)->Read(29).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*(*reopened)->EnforceRetention(), 0);
}

TEST(RetentionTest, RemovesSegmentsOlderThanMaxAgeButNeverTheActiveOne) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.retention_age = std::chrono::hours(1);
  auto log = Filled(dir.path(), 35, o);
  auto segs = log->Segments();
  ASSERT_EQ(segs.size(), 4u);
  const auto old = std::chrono::system_clock::now() - std::chrono::hours(3);
  SetModified(segs[0].store_path, old);
  SetModified(segs[1].store_path, old);
  EXPECT_EQ(*log->EnforceRetention(), 2);
  EXPECT_EQ(log->LowestOffset(), 20u);
  // Even an expired active segment stays (and with it the readable tail).
  for (const auto& s : log->Segments()) SetModified(s.store_path, old);
  EXPECT_EQ(*log->EnforceRetention(), 1);
  EXPECT_EQ(log->Segments().size(), 1u);
  EXPECT_EQ(log->Read(34)->value, "rec34");
}

TEST(RetentionTest, UnlimitedByDefault) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 45);
  EXPECT_EQ(*log->EnforceRetention(), 0);
  EXPECT_EQ(log->LowestOffset(), 0u);
}

TEST(TruncateSuffixTest, DropsTailAcrossSegmentsAndReusesOffsets) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 35);
  ASSERT_TRUE(log->TruncateSuffix(12).ok());
  EXPECT_EQ(log->NextOffset(), 12u);
  EXPECT_EQ(log->Segments().size(), 2u);
  EXPECT_EQ(log->Read(12).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(log->Read(11)->value, "rec11");
  EXPECT_EQ(*log->Append(Value("new12")), 12u);
  EXPECT_EQ(log->Read(12)->value, "new12");
  ASSERT_TRUE(log->Close().ok());
  auto reopened = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->NextOffset(), 13u);
  EXPECT_EQ((*reopened)->Read(12)->value, "new12");
}

TEST(TruncateSuffixTest, AtSegmentBoundaryAndToEmpty) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 25);
  ASSERT_TRUE(log->TruncateSuffix(20).ok());
  EXPECT_EQ(log->NextOffset(), 20u);
  EXPECT_EQ(*log->Append(Value("again20")), 20u);
  ASSERT_TRUE(log->TruncateSuffix(0).ok());
  EXPECT_EQ(log->NextOffset(), 0u);
  EXPECT_EQ(log->SizeBytes(), 0u);
  EXPECT_EQ(*log->Append(Value("zero")), 0u);
  EXPECT_EQ(log->Read(0)->value, "zero");
  EXPECT_TRUE(log->TruncateSuffix(50).ok());  // past the end: no change
  EXPECT_EQ(log->NextOffset(), 1u);
}

TEST(TruncateSuffixTest, RefusesOffsetBelowLowest) {
  ScratchDir dir;
  auto log = Filled(dir.path(), 25);
  ASSERT_TRUE(log->Truncate(15).ok());
  EXPECT_EQ(log->TruncateSuffix(5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->NextOffset(), 25u);
}

}  // namespace
}  // namespace proglog::log
