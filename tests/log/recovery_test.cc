// Recovery on Open after unclean shutdowns: torn tails, stale or zero-filled
// indexes, corruption before the tail, missing segments, and a writer process
// killed with SIGKILL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "core/log/record_format.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/log/test_util.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::log {
namespace {

using ::proglog::testing::ScratchDir;
using testing::ReadFile;
using testing::SetDurablePoint;
using testing::Value;
using testing::WriteFile;

constexpr size_t kValueBytes = 100;
constexpr uint64_t kFrameBytes = internal::kRecordOverhead + kValueBytes;

std::string ValueFor(uint64_t offset) {
  std::string v = "value-" + std::to_string(offset) + "-";
  v.resize(kValueBytes, static_cast<char>('a' + offset % 26));
  return v;
}

Options OneSegment() {
  Options o;
  o.max_index_bytes = 1024 * 12;
  o.durability.mode = Durability::Mode::kNever;
  return o;
}

// Writes `n` records with ValueFor() values and closes cleanly; returns the
// segment files of the log.
std::vector<Log::SegmentInfo> WriteLog(const std::filesystem::path& dir, uint64_t n,
                                       Options o = OneSegment()) {
  auto log = Log::Open(dir, o);
  EXPECT_TRUE(log.ok()) << log.status();
  for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(*(*log)->Append(Value(ValueFor(i))), i);
  std::vector<Log::SegmentInfo> segs = (*log)->Segments();
  EXPECT_TRUE((*log)->Close().ok());
  return segs;
}

void ExpectRecords(Log& log, uint64_t n) {
  ASSERT_EQ(log.NextOffset(), n);
  for (uint64_t i = 0; i < n; ++i) {
    absl::StatusOr<Record> r = log.Read(i);
    ASSERT_TRUE(r.ok()) << "offset " << i << ": " << r.status();
    ASSERT_EQ(r->value, ValueFor(i)) << "offset " << i;
  }
}

// Captures what the engine logs through spdlog while in scope.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(RecoveryTest, TruncatesTornTailAtEveryByteBoundaryOfLastRecord) {
  ScratchDir dir;
  constexpr uint64_t kRecords = 5;
  const auto segs = WriteLog(dir.path(), kRecords);
  const std::string store = ReadFile(segs[0].store_path);
  const std::string index = ReadFile(segs[0].index_path);
  ASSERT_EQ(store.size(), kRecords * kFrameBytes);
  const uint64_t last_start = (kRecords - 1) * kFrameBytes;
  for (uint64_t cut = last_start; cut < store.size(); ++cut) {
    SCOPED_TRACE("store cut at byte " + std::to_string(cut));
    WriteFile(segs[0].store_path, store.substr(0, cut));
    WriteFile(segs[0].index_path, index);       // the index still lists the torn record
    SetDurablePoint(dir.path(), kRecords - 1);  // the crash came before its fsync
    auto log = Log::Open(dir.path(), OneSegment());
    ASSERT_TRUE(log.ok()) << log.status();
    ExpectRecords(**log, kRecords - 1);
    EXPECT_EQ((*log)->GetStats().torn_bytes_dropped, cut - last_start);
    EXPECT_EQ(std::filesystem::file_size(segs[0].store_path), last_start);
    // The log carries on at the dropped offset.
    ASSERT_EQ(*(*log)->Append(Value(ValueFor(kRecords - 1))), kRecords - 1);
    ExpectRecords(**log, kRecords);
    ASSERT_TRUE((*log)->Close().ok());
  }
}

TEST(RecoveryTest, LogsHowManyTornBytesWereDroppedFromWhichFile) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 3);
  std::filesystem::resize_file(segs[0].store_path, 3 * kFrameBytes - 17);
  SetDurablePoint(dir.path(), 2);
  LogCapture capture;
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string text = capture.text();
  EXPECT_NE(text.find("dropped " + std::to_string(kFrameBytes - 17) + " bytes"), std::string::npos)
      << text;
  EXPECT_NE(text.find(segs[0].store_path.string()), std::string::npos) << text;
}

TEST(RecoveryTest, PartialRecordFollowedByReservedZerosCountsBoth) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 3);
  std::string store = ReadFile(segs[0].store_path);
  store.resize(store.size() - 40);                                 // the last record is cut ...
  WriteFile(segs[0].store_path, store + std::string(8192, '\0'));  // ... and zeros follow
  SetDurablePoint(dir.path(), 2);
  LogCapture capture;
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 2);
  EXPECT_EQ((*log)->GetStats().torn_bytes_dropped, kFrameBytes - 40 + 8192);
  const std::string text = capture.text();
  EXPECT_NE(text.find("(" + std::to_string(kFrameBytes - 40) + " of a damaged or partial record, " +
                      "8192 zero bytes)"),
            std::string::npos)
      << text;
}

TEST(RecoveryTest, DropsLastRecordWithBadChecksum) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 4);
  std::string store = ReadFile(segs[0].store_path);
  store[store.size() - 5] ^= 0x40;
  WriteFile(segs[0].store_path, store);
  SetDurablePoint(dir.path(), 3);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 3);
  EXPECT_EQ((*log)->GetStats().torn_bytes_dropped, kFrameBytes);
}

TEST(RecoveryTest, DropsZeroFilledTail) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 4);
  std::string store = ReadFile(segs[0].store_path);
  WriteFile(segs[0].store_path, store + std::string(5000, '\0'));
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 4);
  EXPECT_EQ((*log)->GetStats().torn_bytes_dropped, 5000u);
}

TEST(RecoveryTest, BadChecksumMidFileIsDataLossNamingFileAndPosition) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 10);
  std::string store = ReadFile(segs[0].store_path);
  const uint64_t damaged = 3 * kFrameBytes;
  store[damaged + internal::kRecordOverhead + 10] ^= 0x01;
  WriteFile(segs[0].store_path, store);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
  const std::string message(log.status().message());
  EXPECT_NE(message.find(segs[0].store_path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("at byte " + std::to_string(damaged)), std::string::npos) << message;
  // Nothing was cut: the file is as it was, for an operator to inspect.
  EXPECT_EQ(ReadFile(segs[0].store_path), store);
}

TEST(RecoveryTest, DamagedLengthMidFileIsDataLoss) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 10);
  std::string store = ReadFile(segs[0].store_path);
  store[2 * kFrameBytes] ^= 0x08;  // length of record 2 now points inside record 2
  WriteFile(segs[0].store_path, store);
  auto log = Log::Open(dir.path(), OneSegment());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
}

TEST(RecoveryTest, ReadOfCorruptedRecordIsDataLoss) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 6);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok());
  // Damage a byte behind the open log's back.
  std::fstream f(segs[0].store_path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(kFrameBytes + 40));
  f.put('!');
  f.close();
  EXPECT_EQ((*log)->Read(1).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE((*log)->Read(0).ok());
  EXPECT_TRUE((*log)->Read(2).ok());
}

TEST(RecoveryTest, RebuildsIndexPreSizedWithZeros) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 20);
  WriteFile(segs[0].index_path, std::string(OneSegment().max_index_bytes, '\0'));
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 20);
  ASSERT_EQ(*(*log)->Append(Value(ValueFor(20))), 20u);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ(std::filesystem::file_size(segs[0].index_path), 21u * 12);
}

TEST(RecoveryTest, RecoversFilesCopiedFromAnOpenLog) {
  // The exact shape of a crash: index pre-sized, entries then zeros, never trimmed.
  ScratchDir dir;
  ScratchDir copy;
  {
    auto log = Log::Open(dir.path(), OneSegment());
    ASSERT_TRUE(log.ok());
    for (uint64_t i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Value(ValueFor(i))).ok());
    for (const auto& s : (*log)->Segments()) {
      std::filesystem::copy(s.store_path, copy.path() / s.store_path.filename());
      std::filesystem::copy(s.index_path, copy.path() / s.index_path.filename());
    }
  }
  auto log = Log::Open(copy.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 30);
  // The store had space reserved past its records: dropped as a zero tail.
  EXPECT_GT((*log)->GetStats().torn_bytes_dropped, 0u);
  EXPECT_EQ(std::filesystem::file_size((*log)->Segments()[0].store_path), 30 * kFrameBytes);
}

TEST(RecoveryTest, RebuildsIndexBehindStore) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 20);
  std::filesystem::resize_file(segs[0].index_path, 7 * 12);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 20);
}

TEST(RecoveryTest, IgnoresIndexAheadOfStore) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 20);
  // The store lost its last 5 records on a clean boundary; the index lists 20.
  std::filesystem::resize_file(segs[0].store_path, 15 * kFrameBytes);
  SetDurablePoint(dir.path(), 15);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 15);
  // New records take the freed offsets and read back as themselves, not stale entries.
  std::vector<Record> batch;
  for (uint64_t i = 15; i < 18; ++i) batch.push_back(Value(ValueFor(i) + "!"));
  ASSERT_EQ(*(*log)->AppendBatch(batch), 15u);
  EXPECT_EQ((*log)->Read(17)->value, ValueFor(17) + "!");
  EXPECT_EQ((*log)->Read(18).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(RecoveryTest, RebuildsGarbageOrMissingIndex) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 12);
  std::string garbage(12 * 12, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 + 11);
  WriteFile(segs[0].index_path, garbage);
  {
    auto log = Log::Open(dir.path(), OneSegment());
    ASSERT_TRUE(log.ok()) << log.status();
    ExpectRecords(**log, 12);
  }
  std::filesystem::remove(segs[0].index_path);
  auto log = Log::Open(dir.path(), OneSegment());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 12);
}

Options SmallSegments() {
  Options o = OneSegment();
  o.max_index_bytes = 5 * 12;
  return o;
}

TEST(RecoveryTest, RebuildsIndexesOfEverySegment) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 23, SmallSegments());
  ASSERT_EQ(segs.size(), 5u);
  for (const auto& s : segs) WriteFile(s.index_path, std::string(5 * 12, '\0'));
  auto log = Log::Open(dir.path(), SmallSegments());
  ASSERT_TRUE(log.ok()) << log.status();
  ExpectRecords(**log, 23);
}

TEST(RecoveryTest, TornTailInOlderSegmentIsDataLoss) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 12, SmallSegments());
  std::filesystem::resize_file(segs[1].store_path, 5 * kFrameBytes - 3);
  auto log = Log::Open(dir.path(), SmallSegments());
  ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
  EXPECT_NE(log.status().message().find(segs[1].store_path.string()), std::string::npos);
}

TEST(RecoveryTest, MissingMiddleSegmentIsDataLoss) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 12, SmallSegments());
  std::filesystem::remove(segs[1].store_path);
  std::filesystem::remove(segs[1].index_path);
  auto log = Log::Open(dir.path(), SmallSegments());
  ASSERT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
  EXPECT_NE(log.status().message().find(segs[0].store_path.string()), std::string::npos);
}

TEST(RecoveryTest, SegmentFileWithWrongOffsetsIsDataLoss) {
  ScratchDir dir;
  const auto segs = WriteLog(dir.path(), 12, SmallSegments());
  // Swap two sealed segments' contents: checksums hold but offsets do not.
  const std::string a = ReadFile(segs[0].store_path);
  WriteFile(segs[0].store_path, ReadFile(segs[1].store_path));
  WriteFile(segs[1].store_path, a);
  auto log = Log::Open(dir.path(), SmallSegments());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
}

// A child process appends with fsync=always and reports each acknowledged
// offset on a pipe; the parent kills it with SIGKILL mid-stream and checks
// that every acknowledged record is there after reopening.
TEST(RecoveryTest, NoAcknowledgedRecordIsLostWhenWriterIsKilled) {
  ScratchDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    Options o = SmallSegments();
    o.max_index_bytes = 64 * 12;
    o.durability.mode = Durability::Mode::kAlways;
    auto log = Log::Open(dir.path(), o);
    if (!log.ok()) _exit(3);
    for (uint64_t i = 0; i < 100000; ++i) {  // bounded: the parent kills us long before
      absl::StatusOr<uint64_t> off = (*log)->Append(Value(ValueFor(i)));
      if (!off.ok() || *off != i) _exit(4);
      if (write(fds[1], &i, sizeof(i)) != sizeof(i)) _exit(5);
    }
    _exit(0);
  }
  close(fds[1]);
  uint64_t acked = 0;
  uint64_t last = 0;
  bool any = false;
  while (acked < 300) {
    ASSERT_EQ(read(fds[0], &last, sizeof(last)), static_cast<ssize_t>(sizeof(last)));
    any = true;
    ++acked;
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // Acknowledgements already in the pipe count too.
  while (read(fds[0], &last, sizeof(last)) == static_cast<ssize_t>(sizeof(last))) ++acked;
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_TRUE(any);
  ASSERT_EQ(last + 1, acked);

  Options o = SmallSegments();
  o.max_index_bytes = 64 * 12;
  auto log = Log::Open(dir.path(), o);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_GE((*log)->NextOffset(), acked);
  for (uint64_t i = 0; i < (*log)->NextOffset(); ++i) {
    absl::StatusOr<Record> r = (*log)->Read(i);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    ASSERT_EQ(r->value, ValueFor(i));
  }
}

}  // namespace
}  // namespace proglog::log
