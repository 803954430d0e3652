// Group commit, readers that never wait for the writer or an fsync, offset
// waits, the interval flusher, and many writers with many readers.
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/log/log.h"
#include "core/log/testing_hooks.h"
#include "gtest/gtest.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::SmallOptions;
using testing::Value;

// Polls `cond` until it holds or 30 s pass.
template <typename Cond>
bool Eventually(Cond cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // poll interval, not a wait
  }
  return cond();
}

// Holds every group-commit leader in front of its fsync until released.
class SyncGate {
 public:
  SyncGate() {
    internal::SetBeforeGroupSyncHookForTesting([this] {
      absl::MutexLock l(&mu_);
      ++arrived_;
      mu_.Await(absl::Condition(&open_));
    });
  }
  ~SyncGate() {
    Open();
    internal::SetBeforeGroupSyncHookForTesting(nullptr);
  }
  void Open() {
    absl::MutexLock l(&mu_);
    open_ = true;
  }
  int arrived() {
    absl::MutexLock l(&mu_);
    return arrived_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
};

Options Always() {
  Options o;
  o.durability.mode = Durability::Mode::kAlways;
  return o;
}

TEST(GroupCommitTest, AppendsArrivingDuringAnFsyncShareTheNextOne) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), Always());
  ASSERT_TRUE(log.ok());
  const uint64_t syncs_before = (*log)->GetStats().syncs;
  std::vector<std::thread> threads;
  std::vector<uint64_t> offsets(11, UINT64_MAX);
  {
    SyncGate gate;
    threads.emplace_back([&] { offsets[0] = *(*log)->Append(Value("leader")); });
    ASSERT_TRUE(Eventually([&] { return gate.arrived() == 1; }));
    for (int i = 1; i <= 10; ++i) {
      threads.emplace_back(
          [&, i] { offsets[i] = *(*log)->Append(Value("f" + std::to_string(i))); });
    }
    // All ten are queued behind the leader that sits in its fsync.
    ASSERT_TRUE(Eventually([&] { return (*log)->GetStats().queued == 11; }));
    EXPECT_EQ((*log)->GetStats().appends, 0u);
    gate.Open();
    for (auto& t : threads) t.join();
  }
  const Log::Stats stats = (*log)->GetStats();
  EXPECT_EQ(stats.syncs - syncs_before, 2u);  // one for the leader, one shared by ten
  EXPECT_EQ(stats.groups, 2u);
  EXPECT_EQ(stats.appends, 11u);
  EXPECT_EQ(offsets[0], 0u);
  std::set<uint64_t> unique(offsets.begin(), offsets.end());
  EXPECT_EQ(unique.size(), 11u);
  EXPECT_EQ(*unique.rbegin(), 10u);
  for (int i = 1; i <= 10; ++i) EXPECT_EQ((*log)->Read(offsets[i])->value, "f" + std::to_string(i));
}

TEST(GroupCommitTest, RecordIsNotReadableUntilDurableAndReadersDoNotWait) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), Always());
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(*(*log)->Append(Value("durable")), 0u);
  std::thread writer;
  {
    SyncGate gate;
    writer = std::thread([&] { EXPECT_EQ(*(*log)->Append(Value("pending")), 1u); });
    ASSERT_TRUE(Eventually([&] { return gate.arrived() == 1; }));
    // The writer is inside its fsync: reads run, see only the durable record.
    EXPECT_EQ((*log)->Read(0)->value, "durable");
    EXPECT_EQ((*log)->NextOffset(), 1u);
    EXPECT_EQ((*log)->Read(1).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_GT((*log)->SizeBytes(), 0u);
    EXPECT_EQ((*log)->ReadRange(0, 10, 1 << 20)->size(), 1u);
    gate.Open();
    writer.join();
  }
  EXPECT_EQ((*log)->Read(1)->value, "pending");
}

TEST(GroupCommitTest, TruncateSuffixWhileAppendsAwaitFsyncLeavesNoAckedRecordPastTheEnd) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), Always());
  ASSERT_TRUE(log.ok());
  absl::StatusOr<uint64_t> a = absl::UnknownError("unset");
  absl::StatusOr<uint64_t> b = absl::UnknownError("unset");
  std::thread ta, tb, truncator;
  {
    SyncGate gate;
    ta = std::thread([&] { a = (*log)->Append(Value("a")); });
    ASSERT_TRUE(Eventually([&] { return gate.arrived() == 1; }));
    tb = std::thread([&] { b = (*log)->Append(Value("b")); });
    ASSERT_TRUE(Eventually([&] { return (*log)->GetStats().queued == 2; }));
    // Removing offset 1 must wait for the fsync in flight, then either
    // follow B's acknowledgement or make B fail: never both succeed silently.
    truncator = std::thread([&] { ASSERT_TRUE((*log)->TruncateSuffix(1).ok()); });
    gate.Open();
    ta.join();
    tb.join();
    truncator.join();
  }
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 0u);
  if (!b.ok()) {
    EXPECT_EQ(b.status().code(), absl::StatusCode::kAborted) << b.status();
  } else {
    EXPECT_EQ(*b, 1u);  // acknowledged first, then removed by the truncation
  }
  EXPECT_EQ((*log)->NextOffset(), 1u);
  EXPECT_EQ((*log)->Read(1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*(*log)->Append(Value("c")), 1u);
  EXPECT_EQ((*log)->Read(1)->value, "c");
}

TEST(WaitTest, FiresAtOnceForReadableOffset) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Value("a")).ok());
  bool fired = false;
  const uint64_t id = (*log)->WaitForOffset(0, [&] { fired = true; });
  EXPECT_TRUE(fired);
  EXPECT_FALSE((*log)->CancelWait(id));
}

TEST(WaitTest, FiresOnAppendingThreadAfterAcknowledgement) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), Always());
  ASSERT_TRUE(log.ok());
  std::atomic<int> fired{0};
  std::thread::id fired_on;
  uint64_t next_seen = 0;
  (*log)->WaitForOffset(2, [&] {
    fired_on = std::this_thread::get_id();
    next_seen = (*log)->NextOffset();  // calling back into the log is allowed
    fired++;
  });
  ASSERT_TRUE((*log)->Append(Value("0")).ok());
  ASSERT_TRUE((*log)->Append(Value("1")).ok());
  EXPECT_EQ(fired.load(), 0);
  std::thread appender([&] { ASSERT_TRUE((*log)->Append(Value("2")).ok()); });
  const std::thread::id appender_id = appender.get_id();
  appender.join();
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(fired_on, appender_id);
  EXPECT_EQ(next_seen, 3u);
}

TEST(WaitTest, DoesNotFireBeforeTheFsyncCompletes) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), Always());
  ASSERT_TRUE(log.ok());
  std::atomic<bool> fired{false};
  (*log)->WaitForOffset(0, [&] { fired = true; });
  std::thread writer;
  {
    SyncGate gate;
    writer = std::thread([&] { ASSERT_TRUE((*log)->Append(Value("x")).ok()); });
    ASSERT_TRUE(Eventually([&] { return gate.arrived() == 1; }));
    EXPECT_FALSE(fired.load());
    gate.Open();
    writer.join();
  }
  EXPECT_TRUE(fired.load());
}

TEST(WaitTest, CancelledWaitNeverFires) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  int fired = 0;
  const uint64_t a = (*log)->WaitForOffset(0, [&] { fired += 1; });
  const uint64_t b = (*log)->WaitForOffset(0, [&] { fired += 10; });
  EXPECT_NE(a, b);
  EXPECT_TRUE((*log)->CancelWait(a));
  EXPECT_FALSE((*log)->CancelWait(a));
  ASSERT_TRUE((*log)->Append(Value("x")).ok());
  EXPECT_EQ(fired, 10);
  EXPECT_FALSE((*log)->CancelWait(b));
}

TEST(WaitTest, CloseDropsPendingWaitsWithoutFiring) {
  ScratchDir dir;
  auto log = Log::Open(dir.path(), SmallOptions());
  ASSERT_TRUE(log.ok());
  bool fired = false;
  auto token = std::make_shared<int>(7);
  std::weak_ptr<int> weak = token;
  (*log)->WaitForOffset(5, [&fired, token] { fired = true; });
  token.reset();
  EXPECT_FALSE(weak.expired());  // the log holds the callback
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_FALSE(fired);
  EXPECT_TRUE(weak.expired());  // and released it on Close
}

TEST(IntervalTest, FlusherSyncsInTheBackgroundAndAppendDoesNotWait) {
  ScratchDir dir;
  Options o;
  o.durability = *Durability::Parse("interval:5");
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  {
    SyncGate gate;  // would block an fsync inside Append; interval mode has none
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*log)->Append(Value("v")).ok());
    EXPECT_EQ(gate.arrived(), 0);
  }
  const uint64_t before = (*log)->GetStats().syncs;
  EXPECT_TRUE(Eventually([&] { return (*log)->GetStats().syncs >= before + 2; }));
  ASSERT_TRUE((*log)->Close().ok());
}

TEST(ConcurrencyTest, ManyWritersAndReadersSeeDenseConsistentRecords) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_store_bytes = 16 << 10;
  o.max_index_bytes = 200 * 12;
  o.durability.mode = Durability::Mode::kAlways;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  constexpr int kWriters = 6;
  constexpr int kPerWriter = 150;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<int> read_errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      while (!done.load()) {
        const uint64_t next = (*log)->NextOffset();
        if (next == 0) continue;
        const uint64_t off = rng() % next;
        absl::StatusOr<Record> rec = (*log)->Read(off);
        if (!rec.ok() || rec->offset != off || rec->value.rfind("w", 0) != 0) read_errors++;
        reads++;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const std::string v = "w" + std::to_string(w) + ":" + std::to_string(i);
        if (i % 10 == 0) {
          std::vector<Record> batch = {Value(v + "a"), Value(v + "b")};
          ASSERT_TRUE((*log)->AppendBatch(batch).ok());
        } else {
          ASSERT_TRUE((*log)->Append(Value(v)).ok());
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  const uint64_t total = kWriters * (kPerWriter + kPerWriter / 10);
  ASSERT_EQ((*log)->NextOffset(), total);
  // Each writer's records appear in its own order, and batches stay contiguous.
  std::vector<int> last(kWriters, -1);
  for (uint64_t off = 0; off < total; ++off) {
    const std::string v = (*log)->Read(off)->value;
    const int w = std::stoi(v.substr(1, v.find(':') - 1));
    const int i = std::stoi(v.substr(v.find(':') + 1));
    if (v.back() == 'b') {
      ASSERT_EQ((*log)->Read(off - 1)->value, v.substr(0, v.size() - 1) + "a");
      continue;
    }
    ASSERT_GT(i, last[w]) << v;
    last[w] = i;
  }
  EXPECT_LT((*log)->GetStats().syncs, total);  // fsyncs were shared
}

TEST(ConcurrencyTest, ReadsStayCorrectWhileSegmentsAreRemoved) {
  ScratchDir dir;
  Options o = SmallOptions();
  o.max_index_bytes = 20 * 12;
  o.retention_bytes = 4000;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok());
  auto value_for = [](uint64_t off) { return "v" + std::to_string(off); };
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::atomic<uint64_t> ok_reads{0};
  std::atomic<uint64_t> gone_reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      while (!done.load()) {
        const uint64_t lo = (*log)->LowestOffset();
        const uint64_t hi = (*log)->NextOffset();
        if (hi <= lo) continue;
        const uint64_t off = lo + rng() % (hi - lo);
        absl::StatusOr<Record> rec = (*log)->Read(off);
        if (rec.ok()) {
          if (rec->value != value_for(off)) wrong++;
          ok_reads++;
        } else if (rec.status().code() == absl::StatusCode::kOutOfRange) {
          gone_reads++;  // removed between the bounds check and the read: allowed
        } else {
          wrong++;
        }
      }
    });
  }
  for (uint64_t i = 0; i < 2000; ++i) {
    ASSERT_EQ(*(*log)->Append(Value(value_for(i))), i);
    if (i % 50 == 0) {
      ASSERT_TRUE((*log)->EnforceRetention().ok());
    }
    if (i % 170 == 0) {
      ASSERT_TRUE((*log)->Truncate(i - i / 4).ok());
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(ok_reads.load(), 0u);
  EXPECT_GT((*log)->LowestOffset(), 1000u);
  ASSERT_TRUE((*log)->EnforceRetention().ok());
  EXPECT_TRUE((*log)->SizeBytes() <= o.retention_bytes || (*log)->Segments().size() == 1)
      << (*log)->SizeBytes();
}

}  // namespace
}  // namespace proglog::log
