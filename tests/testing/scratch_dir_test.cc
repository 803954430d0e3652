#include "tests/testing/scratch_dir.h"

#include <stdlib.h>

#include <fstream>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace proglog::testing {
namespace {

namespace fs = std::filesystem;

// Sets (or, given nullopt, unsets) an environment variable for one scope and
// puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void WriteSomething(const fs::path& dir) {
  fs::create_directories(dir / "sub" / "deeper");
  std::ofstream(dir / "sub" / "deeper" / "file") << "data";
  std::ofstream(dir / "top") << "data";
}

TEST(ScratchDirTest, IsAnEmptyDirectoryUnderTheTempDir) {
  ScratchDir dir;
  ASSERT_TRUE(fs::is_directory(dir.path()));
  EXPECT_TRUE(fs::is_empty(dir.path()));
  EXPECT_TRUE(dir.path().is_absolute());
  EXPECT_EQ(dir.path().parent_path(), fs::absolute(fs::temp_directory_path()));
}

TEST(ScratchDirTest, NameSaysWhichTestMadeIt) {
  ScratchDir dir;
  const std::string name = dir.path().filename().string();
  const std::string expected = "proglog-ScratchDirTest.NameSaysWhichTestMadeIt-";
  EXPECT_EQ(name.substr(0, expected.size()), expected) << name;
  EXPECT_EQ(name.size(), expected.size() + 6) << name;
}

TEST(ScratchDirTest, GivenPrefixIsMadeSafeForAFileName) {
  ScratchDir dir("proglog-a/b c");
  const std::string name = dir.path().filename().string();
  EXPECT_EQ(name.substr(0, 14), "proglog-a_b_c-") << name;
  EXPECT_EQ(dir.path().parent_path(), fs::absolute(fs::temp_directory_path()));
}

TEST(ScratchDirTest, TwoAreDistinct) {
  ScratchDir a;
  ScratchDir b;
  EXPECT_NE(a.path(), b.path());
}

TEST(ScratchDirTest, HonoursTmpdir) {
  ScratchDir outer;
  ScopedEnv tmpdir("TMPDIR", outer.path().string());
  ScratchDir inner;
  EXPECT_EQ(inner.path().parent_path(), outer.path());
}

// Makes a ScratchDir, writes into it and lets it go; returns where it was.
fs::path FilledThenDestroyed(bool keep = false) {
  ScratchDir dir;
  WriteSomething(dir.path());
  if (keep) dir.Keep();
  return dir.path();
}

// Runs FilledThenDestroyed, expects the directory left in place and named on
// stderr, then removes it.
void ExpectKeptAndNamed(bool keep) {
  ::testing::internal::CaptureStderr();
  const fs::path made = FilledThenDestroyed(keep);
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(fs::exists(made / "sub" / "deeper" / "file"));
  EXPECT_NE(printed.find(made.string()), std::string::npos) << printed;
  fs::remove_all(made);
}

TEST(ScratchDirTest, RemovedWithEverythingInIt) {
  ScopedEnv keep(kKeepTestDirsVariable, std::nullopt);
  EXPECT_FALSE(fs::exists(FilledThenDestroyed()));
}

TEST(ScratchDirTest, RemovedWhenKeepVariableIsZero) {
  ScopedEnv keep(kKeepTestDirsVariable, "0");
  EXPECT_FALSE(fs::exists(FilledThenDestroyed()));
}

TEST(ScratchDirTest, KeptAndNamedOnStderrWhenKeepVariableIsOne) {
  ScopedEnv keep(kKeepTestDirsVariable, "1");
  ExpectKeptAndNamed(/*keep=*/false);
}

TEST(ScratchDirTest, KeptAndNamedOnStderrAfterKeep) { ExpectKeptAndNamed(/*keep=*/true); }

}  // namespace
}  // namespace proglog::testing
