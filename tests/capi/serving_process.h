// Test support: the real `proglog` binary (PROGLOG_BIN) in a child process,
// started and read up to its JSON "serving" line, for the C API tests that
// talk to a server over the network.
#ifndef PROGLOG_TESTS_CAPI_SERVING_PROCESS_H_
#define PROGLOG_TESTS_CAPI_SERVING_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace proglog::capi::testing {

class ServingProcess {
 public:
  // Runs PROGLOG_BIN with `args` (its subcommand first, `--log-format json`
  // among them), its output appended to `log_file`, and returns once it logs
  // "serving"; fails with its log when it exits first or within 30 s.
  static absl::StatusOr<std::unique_ptr<ServingProcess>> Start(std::vector<std::string> args,
                                                               std::string log_file);
  ~ServingProcess();  // SIGTERM, then reaps
  ServingProcess(const ServingProcess&) = delete;
  ServingProcess& operator=(const ServingProcess&) = delete;

  // The "serving" line: rpc_addr, node, tls, ...
  const nlohmann::json& serving() const { return serving_; }
  std::string rpc_addr() const { return serving_.value("rpc_addr", ""); }

 private:
  ServingProcess(pid_t pid, std::string log_file) : pid_(pid), log_file_(std::move(log_file)) {}
  absl::Status AwaitServing();

  pid_t pid_;
  bool exited_ = false;
  std::string log_file_;
  nlohmann::json serving_;
};

}  // namespace proglog::capi::testing

#endif  // PROGLOG_TESTS_CAPI_SERVING_PROCESS_H_
