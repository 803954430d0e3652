// Running out of disk for real: each test mounts a small tmpfs (the test runs
// as root in a private mount namespace) and fills it through the log.
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <set>
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
using testing::Value;

class DiskFullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Mounts made here stay invisible to the rest of the machine.
    ASSERT_EQ(unshare(CLONE_NEWNS), 0) << "unshare: " << strerror(errno) << " (needs root)";
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << strerror(errno);
  }

  void Mount(const std::string& options) {
    ASSERT_EQ(mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()), 0)
        << strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  std::filesystem::path data() const { return dir_.path(); }

  // Appends seeded random records until one fails; returns the acknowledged values.
  std::vector<std::string> FillUntilFull(Log& log, absl::Status* failure) {
    std::mt19937_64 rng(7);
    std::vector<std::string> acked;
    for (int i = 0; i < 100000; ++i) {  // bounded; the disk fills long before
      std::string v(1 + rng() % 6000, '\0');
      for (char& c : v) c = static_cast<char>('a' + rng() % 26);
      absl::StatusOr<uint64_t> off = log.Append(Value(v));
      if (!off.ok()) {
        *failure = off.status();
        return acked;
      }
      EXPECT_EQ(*off, acked.size());
      acked.push_back(std::move(v));
    }
    return acked;
  }

  void ExpectAll(Log& log, const std::vector<std::string>& acked) {
    ASSERT_EQ(log.NextOffset(), acked.size());
    for (size_t i = 0; i < acked.size(); ++i) {
      absl::StatusOr<Record> r = log.Read(i);
      ASSERT_TRUE(r.ok()) << i << ": " << r.status();
      ASSERT_EQ(r->value, acked[i]) << i;
    }
  }

  ScratchDir dir_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, AppendFailsWithResourceExhaustedAndLosesNothing) {
  Mount("size=256k");
  Options o;
  o.max_index_bytes = 12 * 1024;
  o.max_record_bytes = 8192;
  auto log = Log::Open(data(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::Status failure;
  const std::vector<std::string> acked = FillUntilFull(**log, &failure);
  ASSERT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  EXPECT_NE(failure.message().find(".store"), std::string::npos) << failure;
  ASSERT_GT(acked.size(), 10u);
  // Reads keep working and the store holds exactly the acknowledged records.
  ExpectAll(**log, acked);
  uint64_t bytes = 0;
  for (const auto& v : acked) bytes += internal::kRecordOverhead + v.size();
  EXPECT_EQ((*log)->SizeBytes(), bytes);
  ASSERT_TRUE((*log)->Close().ok());
  auto reopened = Log::Open(data(), o);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->GetStats().torn_bytes_dropped, 0u);
  ExpectAll(**reopened, acked);
}

TEST_F(DiskFullTest, FailedRollLeavesNoStrayFilesAndFreedSpaceIsUsable) {
  Mount("size=256k");
  Options o;
  o.max_store_bytes = 16 << 10;
  o.max_index_bytes = 12 * 4096;  // 48 KiB per index: rolling needs real space
  o.max_record_bytes = 8192;
  o.durability.mode = Durability::Mode::kNever;
  auto log = Log::Open(data(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::Status failure;
  const std::vector<std::string> acked = FillUntilFull(**log, &failure);
  ASSERT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  ExpectAll(**log, acked);
  std::set<std::string> known;
  for (const auto& s : (*log)->Segments()) {
    known.insert(s.store_path.filename().string());
    known.insert(s.index_path.filename().string());
  }
  for (const auto& e : std::filesystem::directory_iterator(data())) {
    const std::string name = e.path().filename().string();
    if (name != "LOCK" && name != "DURABLE") {
      EXPECT_TRUE(known.count(name)) << "stray file " << name;
    }
  }
  // Dropping old segments frees space; appends work again and continue the offsets.
  ASSERT_TRUE((*log)->Truncate((*log)->NextOffset()).ok());
  absl::StatusOr<uint64_t> off = (*log)->Append(Value("after"));
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(*off, acked.size());
  EXPECT_EQ((*log)->Read(*off)->value, "after");
}

TEST_F(DiskFullTest, FailedBatchIsAllOrNothing) {
  Mount("size=128k");
  Options o;
  o.max_store_bytes = 16 << 10;
  o.max_index_bytes = 12 * 256;
  o.durability.mode = Durability::Mode::kNever;
  auto log = Log::Open(data(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<Record> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(Value(std::string(4000, 'a' + i % 26)));
  uint64_t committed = 0;
  absl::Status failure;
  for (int round = 0; round < 100 && failure.ok(); ++round) {
    absl::StatusOr<uint64_t> first = (*log)->AppendBatch(batch);
    if (first.ok()) {
      EXPECT_EQ(*first, committed);
      committed += batch.size();
    } else {
      failure = first.status();
    }
  }
  ASSERT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  ASSERT_GT(committed, 0u);
  EXPECT_EQ((*log)->NextOffset(), committed);
  ASSERT_TRUE((*log)->Close().ok());
  auto reopened = Log::Open(data(), o);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ((*reopened)->NextOffset(), committed);
  for (uint64_t i = 0; i < committed; ++i) {
    ASSERT_EQ((*reopened)->Read(i)->value, batch[i % batch.size()].value) << i;
  }
}

TEST_F(DiskFullTest, ReadOnlyDirectoryIsAClearError) {
  Mount("size=64k,ro");
  auto log = Log::Open(data() / "sub", Options());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find(data().string()), std::string::npos) << log.status();
  auto log2 = Log::Open(data(), Options());
  ASSERT_FALSE(log2.ok());
  EXPECT_NE(log2.status().message().find(data().string()), std::string::npos) << log2.status();
}

}  // namespace
}  // namespace proglog::log
