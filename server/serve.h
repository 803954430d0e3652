// server/serve: `proglog serve`, which runs one node until SIGINT or SIGTERM and
// then stops it gracefully (no new RPCs, in-flight produces finish, streams end,
// files closed cleanly). Features of later releases (gossip, Raft, TLS, ACL) are
// wired in one small function each; until they land, their settings are
// accepted and reported as not yet supported.
//
// Thread-safety: RunServe() is called once, from main().
#ifndef PROGLOG_SERVER_SERVE_H_
#define PROGLOG_SERVER_SERVE_H_

#include "server/settings.h"

namespace proglog::app {

// Process exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime error: cannot start, RPC failed, ...
inline constexpr int kExitUsage = 2;    // unknown flag, bad value

// Runs the node described by `settings` and returns the process exit code.
// Must be called before any other thread exists (it blocks SIGINT and SIGTERM).
int RunServe(const ServeSettings& settings);

}  // namespace proglog::app

#endif  // PROGLOG_SERVER_SERVE_H_
