// The `proglog` binary: runs a node (`proglog [flags]` or `proglog serve
// [flags]`), talks to one (`proglog produce|consume|servers`), lists a gossip
// cluster (`proglog members`) or makes certificates (`proglog cert`).
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "core/node/dedicated_process.h"
#include "core/security/certificates.h"
#include "server/client_commands.h"
#include "server/logging.h"
#include "server/serve.h"
#include "server/settings.h"

namespace proglog::app {
namespace {

constexpr char kDescription[] =
    "proglog: a distributed commit log. Without a subcommand, runs a node like `proglog serve`.\n"
    "Settings come from flags, then PROGLOG_* environment variables, then the YAML file of\n"
    "--config-file (keys are the flag names without dashes), then the defaults.\n"
    "Exit codes: 0 success, 1 runtime error, 2 unknown flag or bad value.";

int Serve(const ServeFlags& flags) {
  // This process exists to run a node: malloc keeps freed memory for reuse
  // (core/node/dedicated_process.h), unless GLIBC_TUNABLES says otherwise.
  // The client subcommands keep glibc's defaults.
  node::TuneAllocatorForServing();
  absl::StatusOr<ServeSettings> settings = flags.Resolve();
  if (!settings.ok()) {
    // Every resolution error is a configuration the operator must fix.
    std::cerr << "proglog: " << settings.status().message() << "\n";
    return kExitUsage;
  }
  if (absl::Status status =
          SetUpLogging(settings->log_format, settings->log_level, settings->node.node_name);
      !status.ok()) {
    std::cerr << "proglog: " << status.message() << "\n";
    return kExitUsage;
  }
  return RunServe(*settings);
}

int Main(int argc, char** argv) {
  // `proglog cert ...` has its own parser (and its own --help) in core/security.
  if (argc >= 2 && std::string(argv[1]) == "cert") {
    const std::vector<std::string> args(argv + 2, argv + argc);
    return security::RunCertCommand(args, std::cout, std::cerr);
  }
  CLI::App app(kDescription, "proglog");
  app.set_version_flag("--version", "proglog " PROGLOG_VERSION);
  app.require_subcommand(0, 1);
  ServeFlags root_serve_flags;
  root_serve_flags.Register(app);

  CLI::App* serve = app.add_subcommand("serve", "Run a node until SIGINT or SIGTERM");
  ServeFlags serve_flags;
  serve_flags.Register(*serve);
  ProduceFlags produce_flags;
  CLI::App* produce = AddProduceCommand(app, produce_flags);
  ConsumeFlags consume_flags;
  CLI::App* consume = AddConsumeCommand(app, consume_flags);
  ServersFlags servers_flags;
  CLI::App* servers = AddServersCommand(app, servers_flags);
  MembersFlags members_flags;
  CLI::App* members = AddMembersCommand(app, members_flags);
  // Listed for --help only; Main() hands `cert` to core/security before parsing.
  app.add_subcommand("cert",
                     "Make a cluster CA (`cert ca`) and server, client or peer certificates "
                     "(`cert issue --role server|client|peer --cn NAME [--host H ...]`); "
                     "`proglog cert --help` for details");

  try {
    app.parse(argc, argv);
    if (root_serve_flags.AnyGiven() && app.get_subcommands().size() == 1) {
      throw CLI::ValidationError("node flags go after the subcommand `serve`, and only there");
    }
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    std::cerr << "proglog: " << error.what() << "\nRun `proglog --help` for usage.\n";
    return kExitUsage;
  }

  if (produce->parsed()) return RunProduce(produce_flags);
  if (consume->parsed()) return RunConsume(consume_flags);
  if (servers->parsed()) return RunServers(servers_flags);
  if (members->parsed()) return RunMembers(members_flags);
  return Serve(serve->parsed() ? serve_flags : root_serve_flags);
}

}  // namespace
}  // namespace proglog::app

int main(int argc, char** argv) {
  // Debian's abseil is built with mutex deadlock detection on, which costs a graph
  // update on every lock; the binary's locks are covered by tests and annotations.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return proglog::app::Main(argc, argv);
}
