// core/server/public_status: what a client is told when a request fails on
// the server's storage. The log's errors name the file and position they hit
// ("write /var/lib/proglog/raft/log/...store: No space left on device"); a
// client needs to know what happened, not the server's file layout. Internal
// to core/server.
//
// Thread-safety: thread-safe.
#ifndef PROGLOG_CORE_SERVER_PUBLIC_STATUS_H_
#define PROGLOG_CORE_SERVER_PUBLIC_STATUS_H_

#include "absl/status/status.h"

namespace proglog::server {

// `status` as a client may see it: each absolute path in its message becomes
// "<file>", and a full disk (RESOURCE_EXHAUSTED other than "message too
// large") is said in words. Same code and payloads. When something was
// removed, the original is logged (a warning, at most a few a second) so the
// operator still finds the file.
absl::Status WithoutServerPaths(const absl::Status& status);

}  // namespace proglog::server

#endif  // PROGLOG_CORE_SERVER_PUBLIC_STATUS_H_
