// Test support: child processes with piped stdin/stdout (our gossip node, the
// serf agent), line reading with deadlines, free loopback ports, and polling.
#ifndef PROGLOG_TESTS_DISCOVERY_PROCESS_H_
#define PROGLOG_TESTS_DISCOVERY_PROCESS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/free_port.h"

namespace proglog::discovery::testing {

class Process {
 public:
  // Starts argv[0] with the given arguments; stdout is piped unless
  // `log_path` is set, in which case stdout and stderr go to that file.
  static std::unique_ptr<Process> Start(const std::vector<std::string>& argv,
                                        const std::string& log_path = "");
  ~Process();  // SIGKILL if still running, then reap

  pid_t pid() const { return pid_; }
  void Write(const std::string& line);  // appends '\n'
  // Next stdout line, or nullopt at EOF / deadline.
  std::optional<std::string> ReadLine(absl::Time deadline);
  // Reads lines until one starts with `prefix`; returns it, or nullopt.
  std::optional<std::string> WaitForLine(const std::string& prefix, absl::Duration timeout);
  // Lines seen so far (all of them, including those returned above).
  const std::vector<std::string>& lines() const { return lines_; }
  void Kill(int sig);
  // Waits for exit; returns the exit status (or -1 on timeout).
  int Wait(absl::Duration timeout);

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buf_;
  std::vector<std::string> lines_;
  bool exited_ = false;
};

// A loopback port free for both UDP and TCP (tests/testing/free_port.h).
using proglog::testing::FreePort;

// Polls `cond` every 100 ms until it holds or `timeout` passes.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& cond);

// Runs a command and returns its stdout (empty on failure).
std::string RunCommand(const std::string& cmd);

}  // namespace proglog::discovery::testing

#endif  // PROGLOG_TESTS_DISCOVERY_PROCESS_H_
