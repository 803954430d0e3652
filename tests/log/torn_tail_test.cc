// Recovery after a crash whose unsynced tail reached the disk in pieces: the
// kernel writes dirty pages back in no particular order, and a kill can stop a
// copy into the mapping half way. Damage at or after the last durable point
// (durable_point.h) is a torn tail and is cut off, whatever follows it; damage
// before it is DataLoss. A kill loop proves that a killed writer always leaves
// a log that opens, with every acknowledged record in it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/log/durable_point.h"
#include "core/log/log.h"
#include "core/log/record_format.h"
#include "gtest/gtest.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::ReadFile;
using testing::SetDurablePoint;
using testing::Value;
using testing::WriteFile;

constexpr uint64_t kPageBytes = 4096;

// Values of varied sizes, so frame headers land anywhere in a page.
std::string ValueFor(uint64_t offset) {
  std::string v = "v" + std::to_string(offset) + "-";
  v.resize(1 + (offset * 397) % 900, static_cast<char>('a' + offset % 26));
  return v;
}

Options OneSegment() {
  Options o;
  o.max_index_bytes = 4096 * 12;
  o.durability.mode = Durability::Mode::kNever;
  return o;
}

// Writes records [0, n) and closes cleanly; returns the store's bytes.
std::string WriteLog(const std::filesystem::path& dir, uint64_t n) {
  auto log = Log::Open(dir, OneSegment());
  EXPECT_TRUE(log.ok()) << log.status();
  for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(*(*log)->Append(Value(ValueFor(i))), i);
  const std::filesystem::path store = (*log)->Segments()[0].store_path;
  EXPECT_TRUE((*log)->Close().ok());
  return ReadFile(store);
}

void ExpectRecords(Log& log, uint64_t n) {
  ASSERT_EQ(log.NextOffset(), n);
  for (uint64_t i = 0; i < n; ++i) {
    absl::StatusOr<Record> r = log.Read(i);
    ASSERT_TRUE(r.ok()) << "offset " << i << ": " << r.status();
    ASSERT_EQ(r->value, ValueFor(i)) << "offset " << i;
  }
}

// Records [durable, durable + unsynced) were written after the last fsync; the
// crash came after some of their pages reached the disk, in a random order.
// At every page boundary of that order, recovery must open the log, keep every
// durable record and exactly the unsynced ones whose bytes all landed, in order.
TEST(TornTailTest, UnsyncedTailWrittenInRandomPageOrderIsCutAtEveryCrashPoint) {
  constexpr uint64_t kDurable = 40;
  constexpr uint64_t kUnsynced = 60;
  ScratchDir all;
  const std::string full = WriteLog(all.path(), kDurable + kUnsynced);
  ScratchDir dir;
  const std::string synced = WriteLog(dir.path(), kDurable);
  ASSERT_EQ(full.compare(0, synced.size(), synced), 0);
  const std::filesystem::path store_path = dir.path() / "00000000000000000000.store";
  const std::filesystem::path index_path = dir.path() / "00000000000000000000.index";
  const std::string index = ReadFile(index_path);

  // End of each record in the full store.
  std::vector<uint64_t> ends;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < kDurable + kUnsynced; ++i) {
    pos += internal::kRecordOverhead + ValueFor(i).size();
    ends.push_back(pos);
  }
  ASSERT_EQ(pos, full.size());

  // The image before the crash: the synced records, then reserved zeros.
  const uint64_t image_bytes = (full.size() / kPageBytes + 2) * kPageBytes;
  std::string before = synced;
  before.resize(image_bytes, '\0');
  std::string after = full;
  after.resize(image_bytes, '\0');
  std::vector<uint64_t> pages;
  for (uint64_t p = synced.size() / kPageBytes; p < image_bytes / kPageBytes; ++p) {
    pages.push_back(p);
  }

  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    std::shuffle(pages.begin(), pages.end(), rng);
    std::vector<bool> landed(image_bytes / kPageBytes, false);
    std::string image = before;
    for (size_t k = 0; k <= pages.size(); ++k) {
      SCOPED_TRACE("seed " + std::to_string(seed) + ", pages written " + std::to_string(k));
      if (k > 0) {
        const uint64_t p = pages[k - 1];
        landed[p] = true;
        image.replace(p * kPageBytes, kPageBytes, after, p * kPageBytes, kPageBytes);
      }
      // Unsynced records survive while each of their pages landed.
      uint64_t expected = kDurable;
      while (expected < kDurable + kUnsynced) {
        const uint64_t first = (ends[expected - 1]) / kPageBytes;
        const uint64_t last = (ends[expected] - 1) / kPageBytes;
        bool whole = true;
        for (uint64_t q = first; q <= last; ++q) {
          whole = whole && (landed[q] || (q + 1) * kPageBytes <= synced.size());
        }
        if (!whole) break;
        ++expected;
      }
      WriteFile(store_path, image);
      WriteFile(index_path, index);
      SetDurablePoint(dir.path(), kDurable);
      auto log = Log::Open(dir.path(), OneSegment());
      ASSERT_TRUE(log.ok()) << log.status();
      ExpectRecords(**log, expected);
      ASSERT_TRUE((*log)->Close().ok());
    }
  }
}

TEST(TornTailTest, DamagedHeaderAfterDurablePointIsTornEvenWithIntactRecordsAfterIt) {
  ScratchDir dir;
  std::string store = WriteLog(dir.path(), 10);
  // A kill mid-copy: record 6 lost its header, records 7..9 are intact.
  uint64_t pos = 0;
  for (uint64_t i = 0; i < 6; ++i) pos += internal::kRecordOverhead + ValueFor(i).size();
  std::fill_n(store.begin() + static_cast<std::ptrdiff_t>(pos), internal::kFrameHeaderBytes, '\0');
  WriteFile(dir.path() / "00000000000000000000.store", store);
  SetDurablePoint(dir.path(), 5);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 6);
  EXPECT_GT((*log)->GetStats().torn_bytes_dropped, 0u);
}

TEST(TornTailTest, DamageBeforeDurablePointIsDataLossNamingTheRecord) {
  ScratchDir dir;
  std::string store = WriteLog(dir.path(), 10);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < 4; ++i) pos += internal::kRecordOverhead + ValueFor(i).size();
  store[pos + internal::kRecordOverhead] ^= 0x10;  // a value byte of record 4
  WriteFile(dir.path() / "00000000000000000000.store", store);
  SetDurablePoint(dir.path(), 5);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
  EXPECT_NE(log.status().message().find("at byte " + std::to_string(pos)), std::string::npos)
      << log.status();
  EXPECT_NE(log.status().message().find("record 4"), std::string::npos) << log.status();
}

TEST(TornTailTest, StoreEndingBeforeDurablePointIsDataLoss) {
  ScratchDir dir;
  const std::string store = WriteLog(dir.path(), 10);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < 7; ++i) pos += internal::kRecordOverhead + ValueFor(i).size();
  WriteFile(dir.path() / "00000000000000000000.store", store.substr(0, pos));
  auto log = Log::Open(dir.path(), OneSegment());  // DURABLE says 10 after the clean close
  ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
  EXPECT_NE(log.status().message().find("ends at offset 7"), std::string::npos) << log.status();
}

TEST(TornTailTest, WithoutDurableFileDamageInLastSegmentIsTornTail) {
  ScratchDir dir;
  std::string store = WriteLog(dir.path(), 10);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < 3; ++i) pos += internal::kRecordOverhead + ValueFor(i).size();
  store[pos + internal::kRecordOverhead] ^= 0x10;
  WriteFile(dir.path() / "00000000000000000000.store", store);
  std::filesystem::remove(dir.path() / internal::DurablePoint::kFileName);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 3);
  // The point is recorded again at once.
  absl::StatusOr<std::optional<uint64_t>> point = internal::DurablePoint::Read(dir.path());
  ASSERT_TRUE(point.ok() && point->has_value()) << point.status();
  EXPECT_EQ(**point, 3u);
}

TEST(TornTailTest, DurablePointFollowsSyncsAndIsLoweredBeforeASuffixCut) {
  ScratchDir dir;
  Options o = OneSegment();
  o.durability.mode = Durability::Mode::kAlways;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  for (uint64_t i = 0; i < 8; ++i) ASSERT_EQ(*(*log)->Append(Value(ValueFor(i))), i);
  auto point = internal::DurablePoint::Read(dir.path());
  ASSERT_TRUE(point.ok() && point->has_value());
  EXPECT_EQ(**point, 8u);
  ASSERT_TRUE((*log)->TruncateSuffix(5).ok());
  point = internal::DurablePoint::Read(dir.path());
  ASSERT_TRUE(point.ok() && point->has_value());
  EXPECT_EQ(**point, 5u);
  ASSERT_TRUE((*log)->Close().ok());
}

// A child appends from several threads (fsync=always) and reports each
// acknowledged offset; the parent kills it with SIGKILL at a random moment,
// reopens, checks, and starts the next child on the same directory. Every
// restart must open the log with every acknowledged record in place.
TEST(TornTailTest, EveryKillDuringAppendsLeavesALogThatOpensWithNothingAcknowledgedLost) {
  constexpr int kRestarts = 300;
  constexpr auto kBudget = std::chrono::minutes(3);
  constexpr int kWriters = 3;
  ScratchDir dir;
  Options o;
  o.max_store_bytes = 256 * 1024;  // rolls now and then
  o.durability.mode = Durability::Mode::kAlways;
  std::mt19937 rng(7);
  const auto start = std::chrono::steady_clock::now();
  uint64_t acked_total = 0;
  int restarts = 0;
  for (; restarts < kRestarts && std::chrono::steady_clock::now() - start < kBudget; ++restarts) {
    SCOPED_TRACE("restart " + std::to_string(restarts));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto log = Log::Open(dir.path(), o);
      if (!log.ok()) _exit(3);
      std::vector<std::thread> writers;
      for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
          for (int i = 0; i < 100000; ++i) {  // bounded: the parent kills us long before
            // Batches of 1-4 records of 1..3000 bytes, so copies into the
            // mapping vary in length and alignment.
            std::vector<Record> batch(1 + (i + w) % 4);
            for (auto& r : batch) r.value = std::string(1 + (i * 131 + w) % 3000, 'x');
            absl::StatusOr<uint64_t> first = (*log)->AppendBatch(batch);
            if (!first.ok()) _exit(4);
            const uint64_t last = *first + batch.size() - 1;
            if (write(fds[1], &last, sizeof(last)) != sizeof(last)) _exit(5);
          }
        });
      }
      for (auto& t : writers) t.join();
      _exit(0);
    }
    close(fds[1]);
    // Let it run for a random moment after its first acknowledgement.
    uint64_t last = 0;
    ASSERT_EQ(read(fds[0], &last, sizeof(last)), static_cast<ssize_t>(sizeof(last)));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    uint64_t highest = last;
    while (read(fds[0], &last, sizeof(last)) == static_cast<ssize_t>(sizeof(last))) {
      highest = std::max(highest, last);
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "writer exited by itself with " << status;

    auto log = Log::Open(dir.path(), o);
    ASSERT_TRUE(log.ok()) << log.status();  // the bug this guards against: a refused start
    ASSERT_GT((*log)->NextOffset(), highest);
    // Every record up to the highest acknowledged one reads back intact.
    const uint64_t from = acked_total;
    for (uint64_t i = from; i <= highest; ++i) {
      absl::StatusOr<Record> r = (*log)->Read(i);
      ASSERT_TRUE(r.ok()) << i << ": " << r.status();
      ASSERT_TRUE(!r->value.empty() && r->value.find_first_not_of('x') == std::string::npos) << i;
    }
    acked_total = (*log)->NextOffset();
    ASSERT_TRUE((*log)->Close().ok());
  }
  std::printf("kill loop: %d restarts, 0 refused, %llu records\n", restarts,
              static_cast<unsigned long long>(acked_total));
  EXPECT_GE(restarts, 100) << "the time budget allowed too few restarts to mean much";
}

}  // namespace
}  // namespace proglog::log
