// Appending, reading, offsets, segment rolling, options and errors.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/log/crc32c.h"
#include "core/log/log.h"
#include "gtest/gtest.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::SmallOptions;
using testing::Value;

TEST(Crc32cTest, MatchesStandardCheckValue) {
  EXPECT_EQ(internal::Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string a = "hello, ";
  const std::string b = "commit log";
  EXPECT_EQ(internal::Crc32cExtend(internal::Crc32c(a), b), internal::Crc32c(a + b));
  EXPECT_NE(internal::Crc32c(a), internal::Crc32c(b));
}

TEST(DurabilityTest, ParsesEveryPolicyAndRoundTrips) {
  for (const char* text : {"always", "never", "interval:250"}) {
    absl::StatusOr<Durability> d = Durability::Parse(text);
    ASSERT_TRUE(d.ok()) << text;
    EXPECT_EQ(d->ToString(), text);
  }
  EXPECT_EQ(Durability::Parse("interval:250")->interval.count(), 250);
  EXPECT_EQ(Durability::Parse("interval:250")->mode, Durability::Mode::kInterval);
}

TEST(DurabilityTest, RejectsBadPolicies) {
  for (const char* text :
       {"", "sometimes", "interval:", "interval:0", "interval:-5", "interval:abc", "Always"}) {
    absl::StatusOr<Durability> d = Durability::Parse(text);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(LogTest, AppendReturnsDenseOffsetsAndReadReturnsRecords) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->LowestOffset(), 0u);
  EXPECT_EQ((*log)->NextOffset(), 0u);
  for (uint64_t i = 0; i < 50; ++i) {
    Record r = Value("record-" + std::to_string(i));
    r.term = i * 3;
    r.type = static_cast<uint32_t>(i % 4);
    absl::StatusOr<uint64_t> off = (*log)->Append(r);
    ASSERT_TRUE(off.ok()) << off.status();
    EXPECT_EQ(*off, i);
  }
  EXPECT_EQ((*log)->NextOffset(), 50u);
  for (uint64_t i = 0; i < 50; ++i) {
    absl::StatusOr<Record> r = (*log)->Read(i);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value, "record-" + std::to_string(i));
    EXPECT_EQ(r->offset, i);
    EXPECT_EQ(r->term, i * 3);
    EXPECT_EQ(r->type, i % 4);
  }
}

TEST(LogTest, RollsSegmentsAtIndexAndStoreLimits) {
  ScratchDir dir;
  Options o = SmallOptions();
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  // 10 index entries per segment: 25 small records need 3 segments.
  for (int i = 0; i < 25; ++i) ASSERT_TRUE((*log)->Append(Value("x")).ok());
  std::vector<Log::SegmentInfo> segs = (*log)->Segments();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].base_offset, 0u);
  EXPECT_EQ(segs[1].base_offset, 10u);
  EXPECT_EQ(segs[2].base_offset, 20u);
  // 400-byte values: two fit in 1024 store bytes, the third rolls.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Value(std::string(400, 'a' + i))).ok());
  segs = (*log)->Segments();
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[3].base_offset, 27u);
  for (const auto& s : segs) EXPECT_LE(s.store_bytes, o.max_store_bytes);
  EXPECT_EQ((*log)->Read(27)->value, std::string(400, 'c'));
}

TEST(LogTest, RecordLargerThanStoreLimitGetsItsOwnSegment) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_record_bytes = 4096;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  const std::string big(3000, 'b');
  ASSERT_EQ(*(*log)->Append(Value(big)), 0u);
  ASSERT_EQ(*(*log)->Append(Value(big)), 1u);
  EXPECT_EQ((*log)->Read(1)->value, big);
  EXPECT_EQ((*log)->Segments().size(), 2u);
}

TEST(LogTest, ReopenKeepsRecordsAndContinuesOffsets) {
  ScratchDir dir;
  {
    auto log = Log::Open(dir.path(), SmallOptions());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 33; ++i) ASSERT_TRUE((*log)->Append(Value(std::to_string(i))).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->NextOffset(), 33u);
  for (int i = 0; i < 33; ++i) EXPECT_EQ((*log)->Read(i)->value, std::to_string(i));
  EXPECT_EQ(*(*log)->Append(Value("next")), 33u);
  EXPECT_EQ((*log)->Read(33)->value, "next");
}

TEST(LogTest, CleanCloseTrimsIndexToUsedEntries) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_index_bytes = 1200;
  {
    auto log = Log::Open(dir.path(), o);
    ASSERT_TRUE(log.ok());
    const auto index = (*log)->Segments()[0].index_path;
    EXPECT_EQ(std::filesystem::file_size(index), 1200u);  // pre-sized while open
    for (int i = 0; i < 7; ++i) ASSERT_TRUE((*log)->Append(Value("v")).ok());
    ASSERT_TRUE((*log)->Close().ok());
    EXPECT_EQ(std::filesystem::file_size(index), 7u * 12);
  }
}

TEST(LogTest, StoreReservesSpaceWhileOpenAndHoldsExactlyItsRecordsWhenSealed) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_store_bytes = 64 << 10;
  o.max_index_bytes = 100ull * 12;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  const std::string v(100, 'v');
  for (int i = 0; i < 150; ++i) ASSERT_TRUE((*log)->Append(Value(v)).ok());
  const auto segs = (*log)->Segments();
  ASSERT_EQ(segs.size(), 2u);
  // The rolled segment was cut to its records; the active one has room reserved.
  EXPECT_EQ(std::filesystem::file_size(segs[0].store_path), 100u * (28 + 100));
  EXPECT_EQ(segs[1].store_bytes, 50u * (28 + 100));
  EXPECT_GE(std::filesystem::file_size(segs[1].store_path), segs[1].store_bytes);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ(std::filesystem::file_size(segs[1].store_path), 50u * (28 + 100));
}

TEST(LogTest, InitialOffsetAppliesToEmptyLog) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.initial_offset = 1000;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->LowestOffset(), 1000u);
  EXPECT_EQ(*(*log)->Append(Value("a")), 1000u);
  EXPECT_EQ((*log)->Read(1000)->value, "a");
  EXPECT_EQ((*log)->Read(999).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(LogTest, ReadPastEndIsOutOfRange) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->Read(0).status().code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE((*log)->Append(Value("a")).ok());
  EXPECT_TRUE((*log)->Read(0).ok());
  EXPECT_EQ((*log)->Read(1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*log)->Read(UINT64_MAX).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(LogTest, AcceptsEmptyAndRefusesOversizedRecordsWithoutChangingTheLog) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_record_bytes = 100;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Value("ok")).ok());
  // An empty value is a record (the original proglog accepts them too).
  absl::StatusOr<uint64_t> empty = (*log)->Append(Value(""));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ((*log)->Read(*empty)->value, "");
  absl::StatusOr<uint64_t> big = (*log)->Append(Value(std::string(101, 'x')));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("exceeds the maximum of 100 bytes"), std::string::npos);
  // One bad record refuses the whole batch.
  std::vector<Record> batch = {Value("a"), Value(std::string(101, 'x'))};
  EXPECT_EQ((*log)->AppendBatch(batch).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->AppendBatch({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->NextOffset(), 2u);
  EXPECT_TRUE((*log)->Append(Value(std::string(100, 'y'))).ok());
  EXPECT_EQ((*log)->NextOffset(), 3u);
}

TEST(LogTest, RejectsBadOptions) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_index_bytes = 11;
  EXPECT_EQ(Log::Open(dir.path(), o).status().code(), absl::StatusCode::kInvalidArgument);
  o = SmallOptions();
  o.max_record_bytes = 0;
  EXPECT_EQ(Log::Open(dir.path(), o).status().code(), absl::StatusCode::kInvalidArgument);
  o = SmallOptions();
  o.durability.mode = Durability::Mode::kInterval;
  o.durability.interval = std::chrono::milliseconds(0);
  EXPECT_EQ(Log::Open(dir.path(), o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LogTest, AppendBatchIsDenseAndReturnsFirstOffset) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Value("first")).ok());
  std::vector<Record> batch;
  batch.reserve(25);
  for (int i = 0; i < 25; ++i) batch.push_back(Value("b" + std::to_string(i)));
  absl::StatusOr<uint64_t> first = (*log)->AppendBatch(batch);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 1u);
  EXPECT_EQ((*log)->NextOffset(), 26u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ((*log)->Read(1 + i)->value, "b" + std::to_string(i));
}

TEST(LogTest, SecondOpenOfSameDirectoryIsRefused) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  auto again = Log::Open(dir.path(), SmallOptions());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_TRUE(Log::Open(dir.path(), SmallOptions()).ok());
}

TEST(LogTest, CallsAfterCloseFailWithFailedPrecondition) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Value("a")).ok());
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ((*log)->Append(Value("b")).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*log)->Read(0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*log)->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*log)->Truncate(0).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LogTest, RandomValuesRoundTripAcrossReopen) {
  ScratchDir dir;
  std::mt19937_64 rng(42);
  std::vector<std::string> values;
  Options o = SmallOptions();
  o.max_store_bytes = 8192;
  o.max_record_bytes = 6000;
  {
    auto log = Log::Open(dir.path(), o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 300; ++i) {
      std::string v(1 + rng() % 5000, '\0');
      for (char& c : v) c = static_cast<char>(rng());
      values.push_back(v);
      ASSERT_EQ(*(*log)->Append(Value(v)), static_cast<uint64_t>(i));
    }
  }  // destructor closes
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ((*log)->NextOffset(), values.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ((*log)->Read(i)->value, values[i]);
}

// Small appends are copied through the store's mapping, large ones (and large
// batches) are written with pwrite; both must land in one consistent file.
TEST(LogTest, SmallAndLargeAppendsInterleaveInOneSegment) {
  ScratchDir dir;
  std::mt19937_64 rng(7);
  Options o = SmallOptions();
  o.max_store_bytes = 8 << 20;
  o.max_index_bytes = 12ull * 4096;
  o.max_record_bytes = 1 << 20;
  auto random_value = [&rng](size_t size) {
    std::string v(size, '\0');
    for (char& c : v) c = static_cast<char>(rng());
    return v;
  };
  std::vector<std::string> values;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  for (int round = 0; round < 40; ++round) {
    values.push_back(random_value(1 + rng() % 300));
    ASSERT_TRUE((*log)->Append(Value(values.back())).ok());
    values.push_back(random_value(16ull * 1024 + rng() % (100ull * 1024)));
    ASSERT_TRUE((*log)->Append(Value(values.back())).ok());
    std::vector<Record> batch;
    for (int i = 0; i < 40; ++i) {
      values.push_back(random_value(500 + rng() % 600));
      batch.push_back(Value(values.back()));
    }
    ASSERT_TRUE((*log)->AppendBatch(batch).ok());
  }
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ((*log)->Read(i)->value, values[i]) << i;
  ASSERT_TRUE((*log)->Close().ok());
  auto reopened = Log::Open(dir.path(), o);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ((*reopened)->NextOffset(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ((*reopened)->Read(i)->value, values[i]) << i;
  }
}

TEST(LogReaderTest, IteratesWholeLogAndPicksUpNewRecords) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Value(std::to_string(i))).ok());
  LogReader reader(**log);
  for (int i = 0; i < 30; ++i) {
    auto r = reader.Next();
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ((*r)->value, std::to_string(i));
  }
  EXPECT_FALSE(reader.Next()->has_value());
  ASSERT_TRUE((*log)->Append(Value("late")).ok());
  EXPECT_EQ((*reader.Next())->value, "late");
}

TEST(LogTest, ReadRangeRespectsRecordAndByteLimits) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*log)->Append(Value("0123456789")).ok());
  EXPECT_EQ((*log)->ReadRange(0, 5, 1 << 20)->size(), 5u);
  EXPECT_EQ((*log)->ReadRange(0, 100, 35)->size(), 3u);
  EXPECT_EQ((*log)->ReadRange(0, 100, 1)->size(), 1u);  // always at least one
  EXPECT_EQ((*log)->ReadRange(15, 100, 1 << 20)->size(), 5u);
  EXPECT_EQ((*log)->ReadRange(20, 100, 1 << 20).status().code(), absl::StatusCode::kOutOfRange);
}

// Whether this process maps a store file (*.store) under `dir`, from
// /proc/self/maps. Index files are always mapped.
bool MapsStoreUnder(const std::filesystem::path& dir) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(dir.string()) != std::string::npos && line.ends_with(".store")) return true;
  }
  return false;
}

// Small appends go through a mapping unless every append is fsynced; then
// each is a pwrite (store.h, Store::Writes says why).
TEST(LogTest, SmallAppendsAreMappedOnlyWhenNotFsyncedEachTime) {
  for (const Durability::Mode mode : {Durability::Mode::kNever, Durability::Mode::kAlways}) {
    ScratchDir dir;
    Options options;
    options.durability.mode = mode;
    auto log = Log::Open(dir.path(), options);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*log)->Append(Value("small record")).ok());
    EXPECT_EQ(MapsStoreUnder(dir.path()), mode == Durability::Mode::kNever)
        << "durability " << static_cast<int>(mode);
    for (uint64_t i = 0; i < 20; ++i) {
      absl::StatusOr<Record> r = (*log)->Read(i);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->value, "small record");
    }
  }
}

}  // namespace
}  // namespace proglog::log
