// Test support shared by every test folder: a fresh directory for one test.
//
// A ScratchDir is made under the temp dir ($TMPDIR, else /tmp) with a name
// that says which test made it, and is removed with everything in it when the
// ScratchDir goes out of scope. With PROGLOG_KEEP_TEST_DIRS=1 in the
// environment it is left in place instead and its path printed to stderr, so
// that what a failing test wrote can be looked at afterwards.
#ifndef PROGLOG_TESTS_TESTING_SCRATCH_DIR_H_
#define PROGLOG_TESTS_TESTING_SCRATCH_DIR_H_

#include <filesystem>
#include <string>
#include <string_view>

namespace proglog::testing {

// The environment variable that keeps scratch directories ("1": keep).
inline constexpr char kKeepTestDirsVariable[] = "PROGLOG_KEEP_TEST_DIRS";

class ScratchDir {
 public:
  // The name is "proglog-<Suite>.<Test>-XXXXXX" inside a running GoogleTest
  // test, else "proglog-XXXXXX" (XXXXXX: random).
  ScratchDir();
  // The name is "<prefix>-XXXXXX"; characters other than letters, digits, '.',
  // '_' and '-' become '_'.
  explicit ScratchDir(std::string_view prefix);
  // Both constructors abort the process with a message when the directory
  // cannot be made: no test can run without it.
  ~ScratchDir();

  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Absolute; exists (and is empty at first) for the ScratchDir's lifetime.
  const std::filesystem::path& path() const { return path_; }

  // Leaves the directory in place when the ScratchDir is destroyed, as
  // PROGLOG_KEEP_TEST_DIRS=1 does (for example, the logs of a test that failed).
  void Keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace proglog::testing

#endif  // PROGLOG_TESTS_TESTING_SCRATCH_DIR_H_
