// server/settings: the settings of `proglog serve`, gathered from three places
// with a fixed precedence: command-line flags win over PROGLOG_* environment
// variables, which win over the YAML config file (keys are the flag names without
// the leading dashes), which wins over the built-in defaults. Each setting has one
// name used in all three places: `--rpc-port`, `PROGLOG_RPC_PORT`, `rpc-port:`.
//
// Thread-safety: ServeFlags is used from main() only; it is not thread-safe.
#ifndef PROGLOG_SERVER_SETTINGS_H_
#define PROGLOG_SERVER_SETTINGS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/node/node.h"
#include "server/logging.h"

namespace proglog::app {

// Certificate, key and CA files for one side of TLS.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;

  bool Any() const { return !cert_file.empty() || !key_file.empty() || !ca_file.empty(); }
};

// Everything `proglog serve` runs with, validated.
struct ServeSettings {
  std::string config_file;
  // data_dir, node_name, rpc_host (the host of bind_addr), rpc_port, log options
  // and the retention interval.
  node::Config node;
  std::string bind_addr;
  std::vector<std::string> start_join_addrs;
  bool bootstrap = false;
  std::string advertise_host;  // empty: the host of bind_addr
  // Unset: node::ClusterConfig's defaults.
  std::optional<std::chrono::milliseconds> raft_heartbeat_interval;
  std::optional<std::chrono::milliseconds> raft_election_timeout;
  std::string gossip_key;  // raw key bytes; empty: gossip is not encrypted
  TlsFiles peer_tls;       // client TLS and the ACL go to node.security
  LogFormat log_format = LogFormat::kText;
  std::string log_level;
};

// The flags of `proglog serve`, registered on a CLI11 app, and their resolution
// against the environment and the config file.
class ServeFlags {
 public:
  // Adds every serve setting as a flag of `app`, grouped for --help.
  void Register(CLI::App& app);

  // True if any serve flag was given on the command line.
  bool AnyGiven() const;

  // Merges flags, environment and config file over the defaults and validates
  // the result. InvalidArgument names the setting, where its value came from and
  // why it is wrong; NotFound / InvalidArgument for an unreadable config file.
  absl::StatusOr<ServeSettings> Resolve() const;

 private:
  struct Flag {
    CLI::Option* option = nullptr;
    std::string value;
    std::vector<std::string> values;  // for list settings
    bool set = false;                 // for boolean settings
  };
  std::map<std::string, Flag, std::less<>> flags_;
};

// Parses "123", "64KiB", "16MiB", "1GiB" (binary multiples) into bytes.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);
// Parses "0", "3600" (seconds), "500ms", "90s", "30m", "1h30m", "7d".
absl::StatusOr<std::chrono::milliseconds> ParseDurationSetting(absl::string_view text);
// The same, truncated to whole seconds.
absl::StatusOr<std::chrono::seconds> ParseAge(absl::string_view text);

}  // namespace proglog::app

#endif  // PROGLOG_SERVER_SETTINGS_H_
