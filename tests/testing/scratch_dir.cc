#include "tests/testing/scratch_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "gtest/gtest.h"

namespace proglog::testing {
namespace {

// Long test names are cut so that the name stays well within NAME_MAX.
constexpr size_t kMaxPrefixLength = 100;

std::string PrefixForCurrentTest() {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (test == nullptr) return "proglog";
  return std::string("proglog-") + test->test_suite_name() + "." + test->name();
}

// Parameterized test names carry '/', which cannot stand in a file name.
std::string FileNameSafe(std::string_view prefix) {
  std::string safe(prefix.substr(0, kMaxPrefixLength));
  for (char& c : safe) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) c = '_';
  }
  return safe;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ScratchDir: %s\n", what.c_str());
  std::abort();
}

std::filesystem::path MakeUniqueDirectory(std::string_view prefix) {
  std::error_code ec;
  const std::filesystem::path temp = std::filesystem::temp_directory_path(ec);
  if (ec) Die("no temp directory: " + ec.message());
  // Absolute even when TMPDIR is relative, so a test may change directory.
  std::string pattern =
      (std::filesystem::absolute(temp) / (FileNameSafe(prefix) + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    Die("cannot make " + pattern + ": " + std::strerror(errno));
  }
  return pattern;
}

bool KeepRequested() {
  const char* value = std::getenv(kKeepTestDirsVariable);
  return value != nullptr && std::string_view(value) == "1";
}

}  // namespace

ScratchDir::ScratchDir() : ScratchDir(PrefixForCurrentTest()) {}

ScratchDir::ScratchDir(std::string_view prefix) : path_(MakeUniqueDirectory(prefix)) {}

ScratchDir::~ScratchDir() {
  if (keep_ || KeepRequested()) {
    std::fprintf(stderr, "kept test directory %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::fprintf(stderr, "ScratchDir: could not remove %s: %s\n", path_.c_str(),
                 ec.message().c_str());
  }
}

}  // namespace proglog::testing
