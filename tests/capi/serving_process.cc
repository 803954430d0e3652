#include "tests/capi/serving_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/status/status.h"

namespace proglog::capi::testing {

absl::StatusOr<std::unique_ptr<ServingProcess>> ServingProcess::Start(std::vector<std::string> args,
                                                                      std::string log_file) {
  const char* bin = std::getenv("PROGLOG_BIN");
  if (bin == nullptr) {
    return absl::FailedPreconditionError("PROGLOG_BIN must name the built proglog binary");
  }
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // A file rather than a pipe: nobody has to keep reading it.
    const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) ::_exit(126);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    std::vector<char*> argv{const_cast<char*>(bin)};
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(bin, argv.data());
    ::_exit(127);
  }
  std::unique_ptr<ServingProcess> process(new ServingProcess(pid, std::move(log_file)));
  if (absl::Status serving = process->AwaitServing(); !serving.ok()) return serving;
  return process;
}

absl::Status ServingProcess::AwaitServing() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string log;
  while (std::chrono::steady_clock::now() < deadline) {
    // Whether it exited is read before the log, so its last lines are in it.
    exited_ = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
    std::ifstream in(log_file_);
    std::stringstream text;
    text << in.rdbuf();
    log = text.str();
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (event.is_object() && event.value("msg", "") == "serving") {
        serving_ = std::move(event);
        return absl::OkStatus();
      }
    }
    if (exited_) return absl::InternalError("proglog exited before serving:\n" + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("no serving line within 30 s:\n" + log);
}

ServingProcess::~ServingProcess() {
  if (exited_) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace proglog::capi::testing
