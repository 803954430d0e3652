// How the client turns gRPC outcomes into absl::Status, and the payloads it
// attaches (leader redirect, offsets a failed batch wrote, unknown outcome).
#ifndef PROGLOG_CORE_CLIENT_STATUS_H_
#define PROGLOG_CORE_CLIENT_STATUS_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/client/errors.h"

namespace proglog::client {

// What every "record too large" message starts with, ours and the server's.
inline constexpr char kTooLarge[] = "message too large";

// A failed call as absl::Status: gRPC's own size limits become "message too
// large"; a refused TLS handshake becomes Unauthenticated naming the likely
// cause (ClassifyRpcFailure, given what the channel presents).
absl::Status FromGrpc(const grpc::Status& status, const ChannelSecurity& channel = {});

// A refusal for a value over the maximum record size, before anything is sent.
absl::Status TooLarge(size_t index, size_t size, uint64_t max);

// True for failures that another attempt, perhaps on another server, may not
// meet: the server was unreachable, went away, or was not the leader. A TLS
// channel closed while connecting is retried too: a server refusing our
// certificate looks the same as one that died mid-handshake (a failover).
bool IsRetryable(const absl::Status& status);

// True if a failed attempt certainly did not append anything: the request
// never reached a server (no connection), or a server refused it before
// appending (not the leader, shutting down). False when the answer was lost.
bool CertainlyNotApplied(const grpc::Status& status);

// Attach the payloads read back by the public functions of client.h.
void MarkNotLeader(absl::Status& status, const std::string& leader);
void MarkOutcomeUnknown(absl::Status& status);
void MarkWrittenOffsets(absl::Status& status, const std::vector<uint64_t>& offsets);

}  // namespace proglog::client

#endif  // PROGLOG_CORE_CLIENT_STATUS_H_
