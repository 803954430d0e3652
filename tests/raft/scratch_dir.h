// A fresh directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it.
#ifndef PROGLOG_TESTS_RAFT_SCRATCH_DIR_H_
#define PROGLOG_TESTS_RAFT_SCRATCH_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace proglog::raft::testing {

class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/proglog-raft-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace proglog::raft::testing

#endif  // PROGLOG_TESTS_RAFT_SCRATCH_DIR_H_
