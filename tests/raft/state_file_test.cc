#include "core/raft/state_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/scratch_dir.h"

namespace proglog::raft {
namespace {

using ::proglog::testing::ScratchDir;

constexpr uint32_t kMagic = 0x31534554;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(StateFile, ReadsBackWhatWasWritten) {
  ScratchDir dir;
  StateFile file(dir.path() / "f", kMagic);
  ASSERT_TRUE(file.Write("first").ok());
  ASSERT_TRUE(file.Write(std::string("second\0bytes", 12)).ok());
  auto got = file.Read();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, std::string("second\0bytes", 12));
}

TEST(StateFile, MissingFileReadsAsNothing) {
  ScratchDir dir;
  auto got = StateFile(dir.path() / "absent", kMagic).Read();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST(StateFile, TornFileIsDataLoss) {
  ScratchDir dir;
  StateFile file(dir.path() / "f", kMagic);
  ASSERT_TRUE(file.Write("some payload").ok());
  const std::string bytes = ReadAll(file.Path());
  for (size_t keep : {size_t{0}, size_t{5}, bytes.size() - 1}) {
    WriteAll(file.Path(), bytes.substr(0, keep));
    auto got = file.Read();
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << keep << ": " << got.status();
  }
}

TEST(StateFile, EveryFlippedByteIsDataLoss) {
  ScratchDir dir;
  StateFile file(dir.path() / "f", kMagic);
  ASSERT_TRUE(file.Write("payload").ok());
  const std::string bytes = ReadAll(file.Path());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string garbled = bytes;
    garbled[i] = static_cast<char>(garbled[i] ^ 0x10);
    WriteAll(file.Path(), garbled);
    auto got = file.Read();
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << "byte " << i << ": " << got.status();
  }
}

TEST(StateFile, OtherKindOfFileIsDataLoss) {
  ScratchDir dir;
  ASSERT_TRUE(StateFile(dir.path() / "f", kMagic).Write("payload").ok());
  auto got = StateFile(dir.path() / "f", kMagic + 1).Read();
  EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
}

TEST(StateFile, LeftoverTempFileDoesNotReplaceContents) {
  ScratchDir dir;
  StateFile file(dir.path() / "f", kMagic);
  ASSERT_TRUE(file.Write("committed").ok());
  std::filesystem::path tmp = file.Path();
  tmp += ".tmp";
  WriteAll(tmp, "half a wri");  // a write that crashed before its rename
  auto got = file.Read();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(**got, "committed");
  file.RemoveLeftovers();
  EXPECT_FALSE(std::filesystem::exists(tmp));
}

TEST(StateFileEncoding, PersistentStateRoundTrips) {
  const PersistentState state{HardState{7, 3, 42}, ConfState{{1, 2, 3}, {4}, 17}, 11};
  auto got = DecodePersistentState(EncodePersistentState(state));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, state);
  std::string cut = EncodePersistentState(state);
  cut.pop_back();
  EXPECT_TRUE(absl::IsDataLoss(DecodePersistentState(cut).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodePersistentState(EncodePersistentState(state) + "x").status()));
}

TEST(StateFileEncoding, SnapshotRoundTrips) {
  const Snapshot snap{SnapshotMeta{100, 5, ConfState{{1}, {2, 3}, 90}}, std::string("d\0ta", 4)};
  auto got = DecodeSnapshot(EncodeSnapshot(snap));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, snap);
  std::string cut = EncodeSnapshot(snap);
  cut.pop_back();
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(cut).status()));
}

TEST(Crc32c, MatchesKnownValue) {
  // The CRC-32C check value (RFC 3720, appendix B.4).
  EXPECT_EQ(internal::Crc32c("123456789"), 0xE3069283u);
}

}  // namespace
}  // namespace proglog::raft
