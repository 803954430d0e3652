// Seeded random damage to a closed log: whatever the damage, Open either
// fails with DataLoss, or succeeds and every record it serves is one that was
// written, at its own offset. Damage before the last record always fails.
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "core/log/record_format.h"
#include "gtest/gtest.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::ReadFile;
using testing::Value;
using testing::WriteFile;

constexpr uint64_t kRecords = 8;

std::string ValueFor(uint64_t i) { return "value-" + std::to_string(i) + std::string(30, 'a' + i); }
uint64_t FrameBytes(uint64_t i) { return internal::kRecordOverhead + ValueFor(i).size(); }

Options Opts() {
  Options o;
  o.durability.mode = Durability::Mode::kNever;
  return o;
}

enum class Damage { kFlipByte, kTruncate, kGarbageTail, kZeroRange };

TEST(CorruptionTest, RandomDamageIsDetectedOrRecoveredNeverServedWrong) {
  ScratchDir dir;
  std::filesystem::path store_path;
  {
    auto log = Log::Open(dir.path(), Opts());
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 0; i < kRecords; ++i) ASSERT_TRUE((*log)->Append(Value(ValueFor(i))).ok());
    store_path = (*log)->Segments()[0].store_path;
  }
  const std::string pristine = ReadFile(store_path);
  uint64_t last_start = 0;
  for (uint64_t i = 0; i + 1 < kRecords; ++i) last_start += FrameBytes(i);
  ASSERT_EQ(pristine.size(), last_start + FrameBytes(kRecords - 1));

  std::mt19937_64 rng(20240611);
  int failed = 0;
  int recovered = 0;
  for (int iter = 0; iter < 200; ++iter) {
    std::string store = pristine;
    const auto damage = static_cast<Damage>(rng() % 4);
    const uint64_t at = rng() % store.size();
    bool before_last = at < last_start;
    switch (damage) {
      case Damage::kFlipByte:
        store[at] = static_cast<char>(store[at] ^ (1 + rng() % 255));
        break;
      case Damage::kTruncate:
        store.resize(at);
        before_last = false;  // cutting is what a crash does: a torn tail
        break;
      case Damage::kGarbageTail:
        for (int i = 0; i < 1 + static_cast<int>(rng() % 300); ++i) {
          store.push_back(static_cast<char>(1 + rng() % 255));
        }
        before_last = false;
        break;
      case Damage::kZeroRange: {
        const uint64_t len = 1 + rng() % 64;
        for (uint64_t i = at; i < std::min<uint64_t>(store.size(), at + len); ++i) store[i] = 0;
        break;
      }
    }
    WriteFile(store_path, store);
    std::filesystem::remove(dir.path() / store_path.filename().replace_extension(".index"));
    SCOPED_TRACE("iteration " + std::to_string(iter) + " damage " +
                 std::to_string(static_cast<int>(damage)) + " at byte " + std::to_string(at));
    auto log = Log::Open(dir.path(), Opts());
    if (!log.ok()) {
      ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
      EXPECT_NE(log.status().message().find(store_path.string()), std::string::npos);
      ++failed;
      continue;
    }
    ASSERT_FALSE(before_last) << "damage before the last record went unnoticed";
    ++recovered;
    ASSERT_LE((*log)->NextOffset(), kRecords);
    for (uint64_t i = 0; i < (*log)->NextOffset(); ++i) {
      absl::StatusOr<Record> r = (*log)->Read(i);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->value, ValueFor(i));
    }
    if (damage == Damage::kTruncate) {
      uint64_t whole = 0, end = 0;
      while (whole < kRecords && end + FrameBytes(whole) <= at) end += FrameBytes(whole++);
      EXPECT_EQ((*log)->NextOffset(), whole);
    }
  }
  // Both outcomes occurred, so the property was exercised both ways.
  EXPECT_GT(failed, 20);
  EXPECT_GT(recovered, 20);
}

}  // namespace
}  // namespace proglog::log
